export interface RunningTollgate {
  url: string;
  secretKey: string;
  stop(): Promise<void>;
  log(): string;
}
export function serverDll(): string;
export function freePort(): Promise<number>;
export function startTollgate(options?: { env?: Record<string, string>; timeoutMs?: number }): Promise<RunningTollgate>;
