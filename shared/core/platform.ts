/**
 * What the platform says about where a function runs, for jobs that call other cloud APIs (the
 * media hand-off invokes another function): region, account, and the temporary credentials of the
 * function's role. Function Compute passes them in the handler's `context` (FC 3.0 and 2.0:
 * `context.credentials {accessKeyId, accessKeySecret, securityToken}`, `context.region`,
 * `context.accountId`; `credentials` is `{}` when the function has no role) and also as the
 * environment variables ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN, FC_ACCOUNT_ID and
 * FC_REGION. Never logged.
 */

export interface PlatformCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  /** Present for STS (role) credentials. */
  securityToken?: string;
}

export interface PlatformContext {
  region?: string;
  accountId?: string;
  functionName?: string;
  /** The function role's temporary credentials, when the platform gave any. */
  credentials?: PlatformCredentials;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** The platform facts in an FC (3.0 or 2.0) handler context; unknown shapes give `{}`. */
export function platformFromFcContext(context: unknown): PlatformContext {
  if (typeof context !== 'object' || context === null) return {};
  const c = context as {
    region?: unknown;
    accountId?: unknown;
    function?: { name?: unknown };
    credentials?: { accessKeyId?: unknown; accessKeySecret?: unknown; securityToken?: unknown };
  };
  const platform: PlatformContext = {};
  const region = text(c.region);
  const accountId = text(c.accountId);
  const functionName = text(c.function?.name);
  if (region) platform.region = region;
  if (accountId) platform.accountId = accountId;
  if (functionName) platform.functionName = functionName;
  const accessKeyId = text(c.credentials?.accessKeyId);
  const accessKeySecret = text(c.credentials?.accessKeySecret);
  if (accessKeyId && accessKeySecret) {
    const securityToken = text(c.credentials?.securityToken);
    platform.credentials = securityToken ? { accessKeyId, accessKeySecret, securityToken } : { accessKeyId, accessKeySecret };
  }
  return platform;
}

/** The platform's credentials, else ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN; undefined when neither. */
export function resolveCredentials(platform: PlatformContext | undefined, env: NodeJS.ProcessEnv = process.env): PlatformCredentials | undefined {
  if (platform?.credentials) return platform.credentials;
  const accessKeyId = text(env.ALIBABA_CLOUD_ACCESS_KEY_ID?.trim());
  const accessKeySecret = text(env.ALIBABA_CLOUD_ACCESS_KEY_SECRET?.trim());
  if (!accessKeyId || !accessKeySecret) return undefined;
  const securityToken = text(env.ALIBABA_CLOUD_SECURITY_TOKEN?.trim());
  return securityToken ? { accessKeyId, accessKeySecret, securityToken } : { accessKeyId, accessKeySecret };
}

/** Account id and region: the platform's, else FC_ACCOUNT_ID and FC_REGION. */
export function resolveAccount(platform: PlatformContext | undefined, env: NodeJS.ProcessEnv = process.env): { accountId?: string; region?: string } {
  const accountId = platform?.accountId ?? text(env.FC_ACCOUNT_ID?.trim());
  const region = platform?.region ?? text(env.FC_REGION?.trim());
  return { ...(accountId ? { accountId } : {}), ...(region ? { region } : {}) };
}
