import { killConnectionsWhileFrozen, MYSQL, mysqlConnectionId, mysqlIdleConnectionsSince } from '../../helpers/stores.js';
import { serverSuite } from './server-suite.js';

serverSuite({
  kind: 'mysql',
  server: MYSQL,
  unreachableUrl: 'mysql://root:s3cret@127.0.0.1:1/test',
  withDatabase: (url, database) => {
    const u = new URL(url);
    u.pathname = `/${database}`;
    return u.toString();
  },
  async killable() {
    // Connection ids grow: the store's connections are the idle ones opened after this one.
    const before = await mysqlConnectionId(MYSQL.url);
    return {
      url: MYSQL.url,
      kill: async () => {
        const ids = await mysqlIdleConnectionsSince(MYSQL.url, before);
        if (ids.length === 0) throw new Error('found no connection of the store to kill');
        killConnectionsWhileFrozen(MYSQL.url, ids);
      },
    };
  },
});
