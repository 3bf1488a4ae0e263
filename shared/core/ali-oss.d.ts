/** The small part of `ali-oss` (preinstalled in FC's nodejs20 runtime; no bundled types) that oss-head.ts uses. */
declare module 'ali-oss' {
  interface AliOssOptions {
    accessKeyId: string;
    accessKeySecret: string;
    stsToken?: string;
    refreshSTSTokenInterval?: number;
    region?: string;
    endpoint?: string;
    bucket?: string;
    secure?: boolean;
    internal?: boolean;
    cname?: boolean;
    sldEnable?: boolean;
    timeout?: number;
    retryMax?: number;
    authorizationV4?: boolean;
  }
  interface AliOssHeadResult {
    status: number;
    res: { status: number; headers: Record<string, string | string[] | undefined> };
  }
  class OSS {
    constructor(options: AliOssOptions);
    head(name: string, options?: { timeout?: number }): Promise<AliOssHeadResult>;
  }
  export = OSS;
}
