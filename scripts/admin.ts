import 'reflect-metadata';
import { runAdmin } from '../tools/admin/src';
import { SERVICE_MIGRATIONS } from './migrate';
import { SERVICE_PROJECTIONS } from './projections';

/** Entry point of `npm run admin`: the CLI in tools/admin, given every service's schema and projections. */
runAdmin(process.argv.slice(2), { schemas: Object.keys(SERVICE_MIGRATIONS), projections: SERVICE_PROJECTIONS });
