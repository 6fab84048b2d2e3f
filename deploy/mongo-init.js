// Runs once, when the compose MongoDB volume is first created (the image's entrypoint runs
// /docker-entrypoint-initdb.d/*.js with mongosh, logged in as MONGO_INITDB_ROOT_USERNAME).
// The dashboard's login, criptopipe_reader: MongoDB's built-in `read` role on the warehouse
// database and nothing else, so the server refuses it every write. The password comes from
// DASHBOARD_MONGO_PASSWORD (docker-compose.yml passes it to the `mongo` service).
const password = process.env.DASHBOARD_MONGO_PASSWORD;
if (!password) {
  throw new Error("DASHBOARD_MONGO_PASSWORD is not set: put it in .env (see .env.example)");
}
db.getSiblingDB("criptopipe").createUser({
  user: "criptopipe_reader",
  pwd: password,
  roles: [{ role: "read", db: "criptopipe" }],
});
