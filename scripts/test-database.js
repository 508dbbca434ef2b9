// Prints a URL for a separate test database on the server of the given URL, so the test suite never
// touches the data of a system started with `npm run up`. With --fresh the database is dropped and
// created again: its consumer checkpoints must never outlive the broker they were taken on.
const { Client } = require('pg');

async function main() {
  const fresh = process.argv.includes('--fresh');
  const base = new URL(process.argv.slice(2).find((a) => !a.startsWith('--')));
  const name = `${base.pathname.replace(/^\//, '') || 'im'}_test`;
  const client = new Client({ connectionString: base.toString() });
  await client.connect();
  if (fresh) await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (rowCount === 0) await client.query(`CREATE DATABASE "${name}"`);
  await client.end();
  base.pathname = `/${name}`;
  process.stdout.write(base.toString());
}

main().catch((error) => {
  console.error(`could not prepare the test database: ${error.message}`);
  process.exit(1);
});
