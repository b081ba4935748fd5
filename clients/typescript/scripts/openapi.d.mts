export const target: string;
export function generate(document: unknown): Promise<string>;
