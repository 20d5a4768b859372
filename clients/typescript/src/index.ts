// @maitre/client: the typed client of the Maitre REST API.
export * from "./client.js";
export * from "./pagination.js";
export * from "./stream.js";
export * from "./generated.js";
