const { MosquittoDbStore } = await import('./dist/src/broker/persistence/mosquitto-db-store.js');
const { openSqliteStore } = await import('./dist/src/broker/persistence/sqlite/index.js');
const mode = process.argv[2];
const rss = () => (process.memoryUsage().rss / 1048576).toFixed(0) + 'MB';
if (mode === 'make') {
  const state = new MosquittoDbStore('/tmp/big/orig.db').load();
  const st = openSqliteStore({ dbFile: '/tmp/big/big.sqlite3' }, () => {});
  st.load(); st.save(state, false); st.commit(true); st.close();
} else {
  const st = openSqliteStore({ dbFile: '/tmp/big/big.sqlite3' }, () => {});
  let t = performance.now(); const s = st.load(); console.log('load', (performance.now() - t).toFixed(0), 'ms', rss(), s.baseMessages.length);
}
