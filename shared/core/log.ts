/**
 * One structured JSON line per callback. FC ships stdout to Log Service, where each line becomes a
 * searchable record. The pipeline never puts the signature, the key or secrets into a line.
 */
export type Logger = (line: Record<string, unknown>) => void;

export function createLogger(target: 'stdout' | 'stderr' | 'off'): Logger {
  if (target === 'off') return () => {};
  const stream = target === 'stdout' ? process.stdout : process.stderr;
  return (line) => {
    const level = typeof line.status === 'number' && line.status >= 500 ? 'error' : line.status === 200 ? 'info' : 'warn';
    stream.write(`${JSON.stringify({ time: new Date().toISOString(), level, ...line })}\n`);
  };
}
