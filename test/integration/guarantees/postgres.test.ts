import { POSTGRES } from '../../helpers/stores.js';
import { guaranteeSuite } from './suite.js';

guaranteeSuite({ name: 'PostgreSQL', kind: 'postgres', server: POSTGRES });
