/**
 * JSON text as cJSON writes it: cJSON_PrintUnformatted for the requests mosquitto_ctrl
 * sends, cJSON_Print (tabs, `"key":\tvalue`, arrays on one line) for the file `dynsec init`
 * writes. Keys keep their insertion order; `RawNumber` is written as given (the `%d` of
 * cJSON_AddRawToObject).
 */

export class RawNumber {
  constructor(readonly text: string) {}
}

export type CJsonValue =
  | string
  | number
  | boolean
  | null
  | RawNumber
  | readonly CJsonValue[]
  | { readonly [key: string]: CJsonValue };

function print(value: CJsonValue, depth: number, format: boolean): string {
  if (value === null) return 'null';
  if (value instanceof RawNumber) return value.text;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (Array.isArray(value)) {
    const items = (value as readonly CJsonValue[]).map((item) => print(item, depth + 1, format));
    return `[${items.join(format ? ', ' : ',')}]`;
  }
  const entries = Object.entries(value as { readonly [key: string]: CJsonValue });
  const inner = '\t'.repeat(depth + 1);
  const parts = entries.map(([key, child]) =>
    format
      ? `${inner}${JSON.stringify(key)}:\t${print(child, depth + 1, format)}`
      : `${JSON.stringify(key)}:${print(child, depth + 1, format)}`,
  );
  if (!format) return `{${parts.join(',')}}`;
  return `{\n${parts.join(',\n')}${parts.length > 0 ? '\n' : ''}${'\t'.repeat(depth)}}`;
}

/** cJSON_Print. */
export function cjsonPrint(value: CJsonValue): string {
  return print(value, 0, true);
}

/** cJSON_PrintUnformatted. */
export function cjsonPrintUnformatted(value: CJsonValue): string {
  return print(value, 0, false);
}
