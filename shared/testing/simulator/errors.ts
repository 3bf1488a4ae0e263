/**
 * The two kinds of failure an uploader sees, as OSS reports them:
 *  - 400 `InvalidArgument`: the callback parameters were refused before the upload (nothing stored);
 *  - 203 `CallbackFailed`: the object is stored, but the callback did not succeed.
 * Both are OSS's XML error bodies. `Message` is OSS's own text where the protocol reference
 * documents it (`documented: true`); elsewhere it is the simulator's description of the same check,
 * with the EC code of OSS's error page for it when known.
 */
export interface OssErrorInfo {
  status: 400 | 203;
  code: 'InvalidArgument' | 'CallbackFailed';
  message: string;
  /** OSS's EC code (its per-error documentation page), when known. */
  ec?: string;
  /** Whether `message` is OSS's exact documented wording. */
  documented: boolean;
  argumentName?: string;
  argumentValue?: string;
}

export class InvalidArgument extends Error implements OssErrorInfo {
  readonly status = 400 as const;
  readonly code = 'InvalidArgument' as const;
  readonly ec: string | undefined;
  readonly documented: boolean;
  readonly argumentName: string | undefined;
  readonly argumentValue: string | undefined;

  constructor(message: string, options: { ec?: string; documented?: boolean; argumentName?: string; argumentValue?: string } = {}) {
    super(message);
    this.name = 'InvalidArgument';
    this.ec = options.ec;
    this.documented = options.documented ?? false;
    this.argumentName = options.argumentName;
    this.argumentValue = options.argumentValue;
  }
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** OSS's XML error body. */
export function ossErrorXml(error: OssErrorInfo, requestId: string, hostId: string): string {
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Error>',
    `  <Code>${error.code}</Code>`,
    `  <Message>${escapeXml(error.message)}</Message>`,
    `  <RequestId>${escapeXml(requestId)}</RequestId>`,
    `  <HostId>${escapeXml(hostId)}</HostId>`,
  ];
  if (error.argumentName !== undefined) lines.push(`  <ArgumentName>${escapeXml(error.argumentName)}</ArgumentName>`);
  if (error.argumentValue !== undefined) lines.push(`  <ArgumentValue>${escapeXml(error.argumentValue)}</ArgumentValue>`);
  if (error.ec !== undefined) lines.push(`  <EC>${error.ec}</EC>`);
  lines.push('</Error>');
  return `${lines.join('\n')}\n`;
}
