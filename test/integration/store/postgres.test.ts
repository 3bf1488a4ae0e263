import { killConnectionsWhileFrozen, POSTGRES, uniqueSuffix, withParams } from '../../helpers/stores.js';
import { serverSuite } from './server-suite.js';

serverSuite({
  kind: 'postgres',
  server: POSTGRES,
  unreachableUrl: 'postgres://postgres:s3cret@127.0.0.1:1/test',
  withDatabase: (url, database) => {
    const u = new URL(url);
    u.pathname = `/${database}`;
    return u.toString();
  },
  async killable() {
    // The store's connections carry a unique application_name, so only they are terminated.
    const applicationName = `store-test-${uniqueSuffix()}`;
    return {
      url: withParams(POSTGRES.url, { application_name: applicationName }),
      kill: async () => killConnectionsWhileFrozen(POSTGRES.url, applicationName),
    };
  },
});
