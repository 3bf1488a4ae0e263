import { MYSQL } from '../../helpers/stores.js';
import { guaranteeSuite } from './suite.js';

guaranteeSuite({ name: 'MySQL', kind: 'mysql', server: MYSQL });
