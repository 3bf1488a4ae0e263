/**
 * The part of `@alicloud/fc2` (2.6.6, no typings of its own) that the hand-off uses. The FC
 * nodejs20 runtime preinstalls the package; locally it is a devDependency.
 */
declare module '@alicloud/fc2' {
  interface FCClientConfig {
    accessKeyID: string;
    accessKeySecret: string;
    /** Required when accessKeyID starts with "STS". Sent as x-fc-security-token. */
    securityToken?: string;
    region: string;
    secure?: boolean;
    internal?: boolean;
    /** Overrides `http(s)://<account>.<region>[-internal].fc.aliyuncs.com` entirely. */
    endpoint?: string;
    /** Milliseconds; the client's default is 60000. */
    timeout?: number;
    headers?: Record<string, string>;
  }
  interface FCResponse {
    headers: Record<string, string | string[] | undefined>;
    data: unknown;
  }
  class FCClient {
    constructor(accountId: string, config: FCClientConfig);
    invokeFunction(
      serviceName: string,
      functionName: string,
      event: string | Buffer,
      headers?: Record<string, string>,
      qualifier?: string,
      opts?: { rawBuf?: boolean },
    ): Promise<FCResponse>;
  }
  export = FCClient;
}
