/** JSON-lines logs to stderr (the shape `cosigner up` flattens); a stand-in until services share one logger. */
export type LogFn = (msg: string, fields?: Record<string, unknown>) => void;
export interface Logger { info: LogFn; warn: LogFn; error: LogFn }

export function jsonLogger(service: string, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const emit = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => {
    const f: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(fields)) f[k] = v instanceof Error ? { name: v.name, message: v.message, code: (v as { code?: unknown }).code } : v;
    write(JSON.stringify({ ts: new Date().toISOString(), level, service, msg, ...f }) + '\n');
  };
  return { info: emit('info'), warn: emit('warn'), error: emit('error') };
}
