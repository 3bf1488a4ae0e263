/**
 * callbackBody templates: their `${…}` syntax as OSS checks it, and the body OSS builds from them
 * (protocol reference §5: form values URL-encoded; JSON string variables quoted, `size` and the
 * image dimensions bare numbers; literal text copied as it is).
 */
import { fillTemplate } from '../fill.js';
import { InvalidArgument } from './errors.js';

/** OSS's system variables (case-sensitive). */
export const SYSTEM_VARIABLES: readonly string[] = [
  'bucket',
  'object',
  'etag',
  'size',
  'mimeType',
  'imageInfo.height',
  'imageInfo.width',
  'imageInfo.format',
  'crc64',
  'contentMd5',
  'vpcId',
  'clientIp',
  'reqId',
  'operation',
];

/**
 * Checks `${…}` syntax and returns the variable names in order. OSS's documented refusal is for a `$`
 * not followed by `{` ("Left brace must be adjacent to dollar sign.", for `my_var=$x:my_var}`); an
 * unclosed `${` and an empty `${}` are refused too.
 */
export function checkTemplate(template: string): string[] {
  const names: string[] = [];
  for (let i = 0; i < template.length; i++) {
    if (template[i] !== '$') continue;
    if (template[i + 1] !== '{') {
      throw new InvalidArgument('Left brace must be adjacent to dollar sign.', {
        ec: '0007-00000105',
        documented: true,
        argumentName: 'callbackBody',
        argumentValue: template,
      });
    }
    const close = template.indexOf('}', i + 2);
    if (close < 0) {
      throw new InvalidArgument(`the variable starting at position ${i} of callbackBody has no closing "}"`, {
        argumentName: 'callbackBody',
        argumentValue: template,
      });
    }
    const name = template.slice(i + 2, close);
    if (name.trim() === '') {
      throw new InvalidArgument(`callbackBody has an empty variable "\${}" at position ${i}`, { argumentName: 'callbackBody', argumentValue: template });
    }
    names.push(name);
    i = close;
  }
  return names;
}

export type VariableValues = Record<string, string | number>;

/**
 * The body OSS sends: known variables filled in; custom variables nobody supplied are empty
 * (probably what OSS does); anything else (a misspelt `${mimetype}`) is left as its literal text,
 * which is what the functions diagnose as "OSS did not substitute the variable".
 */
export function fillBody(template: string, type: 'form' | 'json', values: VariableValues, variables: readonly string[]): string {
  const all: Record<string, string | number> = { ...values };
  for (const name of variables) if (name.startsWith('x:') && !(name in all)) all[name] = '';
  return fillTemplate(template, all, type, { unknown: 'literal' });
}

/** Warnings about variables: unknown names, custom variables nobody supplied. */
export function variableWarnings(variables: readonly string[], custom: Readonly<Record<string, string>>): string[] {
  const warnings: string[] = [];
  for (const name of new Set(variables)) {
    if (name.startsWith('x:')) {
      if (!(name in custom)) warnings.push(`\${${name}} has no value (no callback-var or --var for it): filled in empty`);
    } else if (!SYSTEM_VARIABLES.includes(name)) {
      const near = SYSTEM_VARIABLES.find((known) => known.toLowerCase() === name.toLowerCase());
      warnings.push(
        `\${${name}} is not an OSS system variable${near ? ` (system variables are case-sensitive: \${${near}})` : ''}: left as literal text`,
      );
    }
  }
  for (const name of Object.keys(custom)) {
    if (!variables.includes(name)) warnings.push(`custom variable ${name} is not in callbackBody: OSS does not send it`);
  }
  return warnings;
}
