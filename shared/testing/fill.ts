/**
 * Fills a callbackBody template the way OSS does (tests and dev tools only):
 *  - form bodies: each variable replaced by its URL-encoded value (`/` → %2F, `:` → %3A);
 *    literal template text is copied unchanged;
 *  - JSON bodies: string variables become quoted JSON strings; `size` and `imageInfo.width` /
 *    `imageInfo.height` become bare numbers (empty when the object is not an image).
 * Variables nobody supplied become empty, or (`unknown: 'literal'`) stay as the `${name}` text.
 */
export const NUMERIC_VARIABLES: ReadonlySet<string> = new Set(['size', 'imageInfo.width', 'imageInfo.height']);

export type TemplateValues = Readonly<Record<string, string | number | undefined>>;

export interface FillOptions {
  /** What a variable missing from `values` becomes: `''` (default) or its literal `${name}` text. */
  unknown?: 'empty' | 'literal';
}

export function fillTemplate(template: string, values: TemplateValues, type: 'form' | 'json', options: FillOptions = {}): string {
  return template.replace(/\$\{([^}]*)\}/g, (whole, name: string) => {
    if (options.unknown === 'literal' && !Object.prototype.hasOwnProperty.call(values, name)) return whole;
    const value = values[name];
    if (type === 'form') return value === undefined ? '' : encodeURIComponent(String(value));
    if (NUMERIC_VARIABLES.has(name)) return value === undefined || value === '' ? '' : String(value);
    return JSON.stringify(value === undefined ? '' : String(value));
  });
}

/**
 * `template` with `name=${name}` (form) or `"name":${name}` (JSON) added for each custom variable
 * (`x:…`) it does not use yet, as an uploader adds the variables it sends.
 */
export function withCustomVariables(template: string, names: Iterable<string>, type: 'form' | 'json'): string {
  let out = template;
  for (const name of names) {
    if (out.includes(`\${${name}}`)) continue;
    out = type === 'json' ? `${out.slice(0, -1)},${JSON.stringify(name)}:\${${name}}}` : `${out}&${name}=\${${name}}`;
  }
  return out;
}
