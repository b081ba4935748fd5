export interface RunningTollgate {
  url: string;
  secretKey: string;
  stop(): Promise<void>;
  log(): string;
}
export function serverDll(): string;
export function freePort(): Promise<number>;
export function startTollgate(options?: { env?: Record<string, string>; timeoutMs?: number }): Promise<RunningTollgate>;
export function waitUntilAnswers(
  url: string,
  options: { child: import("node:child_process").ChildProcess; output: () => string; timeoutMs: number; what: string },
): Promise<void>;
