#!/usr/bin/env node
// Generates src/generated.ts from the gateway's OpenAPI document: one TypeScript type per
// schema (proto3 JSON mapping: 64-bit integers and timestamps are strings, enums are their
// value names, every field optional) and one entry per operation (method, path template,
// path/query parameters, body, response).
//
//   node scripts/generate.mjs                      reads openapi.json (the committed copy)
//   node scripts/generate.mjs --from <url|file>    fetches it first and updates openapi.json
//   node scripts/generate.mjs --check [--from …]   fails when openapi.json or generated.ts
//                                                  differ from what the source gives
//   node scripts/generate.mjs --from-system        starts `maitre run` (as the tests do),
//                                                  takes its /openapi.json, updates both
//
// A small script rather than a code-generation dependency: the document is regular (one
// gateway renders it), so a few hundred lines cover it and the output stays readable.

import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");
const specFile = path.join(root, "openapi.json");
const outFile = path.join(root, "src", "generated.ts");

const args = process.argv.slice(2);
const check = args.includes("--check");
const fromIndex = args.indexOf("--from");
const from = fromIndex >= 0 ? args[fromIndex + 1] : args.includes("--from-system") ? "maitre run" : undefined;

async function load() {
  if (args.includes("--from-system")) {
    const { startSystem } = await import("../../testing/system.mjs");
    const system = await startSystem();
    try {
      return await (await fetch(`${system.url}/openapi.json`)).json();
    } finally {
      await system.stop();
    }
  }
  if (!from) return JSON.parse(await readFile(specFile, "utf8"));
  if (/^https?:\/\//.test(from)) {
    const response = await fetch(from);
    if (!response.ok) throw new Error(`${from}: HTTP ${response.status}`);
    return await response.json();
  }
  return JSON.parse(await readFile(from, "utf8"));
}

/** Stable, readable TypeScript names for schema keys like `maitre.profile.v1.Customer`. */
function typeNames(keys) {
  const parts = (key) => key.split(".").filter((p) => p !== "maitre" && !/^v\d+$/.test(p));
  const pascal = (s) => s.replace(/(^|_)([a-z])/g, (_, __, c) => c.toUpperCase());
  const names = new Map();
  // Shortest suffix of the dotted name that no other schema shares.
  for (const key of keys) {
    const p = parts(key);
    for (let n = 1; n <= p.length; n++) {
      const suffix = p.slice(-n).join(".");
      const shared = keys.filter((k) => k !== key && parts(k).slice(-n).join(".") === suffix);
      if (shared.length === 0 || n === p.length) {
        names.set(key, p.slice(-n).map(pascal).join(""));
        break;
      }
    }
  }
  if (!names.has("Error")) names.set("Error", "ApiErrorBody");
  return names;
}

const reserved = new Set(["Error", "Object", "String", "Number", "Boolean", "Date", "Record", "Promise", "Array"]);

function generate(spec) {
  const schemas = spec.components?.schemas ?? {};
  const keys = Object.keys(schemas).sort();
  const names = typeNames(keys);
  for (const [key, name] of names) if (reserved.has(name)) names.set(key, `Api${name}`);

  const refName = (ref) => {
    const key = ref.replace("#/components/schemas/", "");
    const name = names.get(key);
    if (!name) throw new Error(`unknown schema reference ${ref}`);
    return name;
  };
  const prop = (k) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : JSON.stringify(k));
  const doc = (text, indent) => {
    const t = (text ?? "").trim();
    if (!t) return "";
    const lines = t.replace(/\*\//g, "*\\/").split("\n");
    return `${indent}/** ${lines.join(`\n${indent} * `)} */\n`;
  };

  function type(schema, indent = "") {
    if (!schema || Object.keys(schema).length === 0) return "unknown";
    if (schema.$ref) return refName(schema.$ref);
    if (schema.allOf) return schema.allOf.map((s) => type(s, indent)).join(" & ");
    if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
    switch (schema.type) {
      case "string":
        return "string";
      case "integer":
      case "number":
        return "number";
      case "boolean":
        return "boolean";
      case "array":
        return `Array<${type(schema.items, indent)}>`;
      case "object": {
        const props = schema.properties ?? {};
        const fields = Object.entries(props).map(
          ([k, v]) => `${doc(v.description, indent + "  ")}${indent}  ${prop(k)}?: ${type(v, indent + "  ")};`,
        );
        const extra = schema.additionalProperties;
        if (extra) {
          const value = extra === true ? "unknown" : type(extra, indent + "  ");
          fields.push(`${indent}  [key: string]: ${fields.length ? "unknown" : value};`);
        }
        if (fields.length === 0) return "Record<string, never>";
        return `{\n${fields.join("\n")}\n${indent}}`;
      }
      default:
        return "unknown";
    }
  }

  const out = [];
  out.push("// Generated by scripts/generate.mjs from openapi.json — do not edit by hand.");
  out.push(`// ${spec.info?.title ?? "API"} ${spec.info?.version ?? ""}: ${Object.keys(spec.paths).length} paths, ${keys.length} schemas.`);
  out.push("/* eslint-disable */");
  out.push("");
  for (const key of keys) {
    const schema = schemas[key];
    const name = names.get(key);
    out.push(`${doc(schema.description || key, "")}export type ${name} = ${type(schema)};`);
    out.push("");
  }

  const operations = [];
  for (const [template, methods] of Object.entries(spec.paths).sort(([a], [b]) => a.localeCompare(b))) {
    for (const [method, op] of Object.entries(methods)) {
      operations.push({ template, method: method.toUpperCase(), op });
    }
  }
  operations.sort((a, b) => a.op.operationId.localeCompare(b.op.operationId));

  out.push("/** Every operation: its parameters, body and response. */");
  out.push("export interface Operations {");
  for (const { op } of operations) {
    const params = op.parameters ?? [];
    const group = (where) => {
      const ps = params.filter((p) => p.in === where);
      if (ps.length === 0) return "never";
      return `{ ${ps.map((p) => `${prop(p.name)}${p.required ? "" : "?"}: ${type(p.schema, "    ")}`).join("; ")} }`;
    };
    const body = op.requestBody?.content?.["application/json"]?.schema;
    const ok = op.responses?.["200"]?.content;
    const response = ok?.["application/json"] ? type(ok["application/json"].schema, "    ") : "string";
    out.push(`${doc(op.summary, "  ")}  ${op.operationId}: {`);
    out.push(`    path: ${group("path")};`);
    out.push(`    query: ${group("query")};`);
    out.push(`    body: ${body ? type(body, "    ") : "never"};`);
    out.push(`    response: ${response};`);
    out.push("  };");
  }
  out.push("}");
  out.push("");
  out.push("/** Method and path template of each operation (what the client sends). */");
  out.push("export const OPERATIONS = {");
  for (const { template, method, op } of operations) {
    const pathParams = (op.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name);
    out.push(
      `  ${op.operationId}: { method: ${JSON.stringify(method)}, path: ${JSON.stringify(template)}, pathParams: ${JSON.stringify(pathParams)}, hasBody: ${Boolean(op.requestBody)} },`,
    );
  }
  out.push("} as const;");
  out.push("");
  out.push("export type OperationId = keyof Operations;");
  out.push("");
  return out.join("\n");
}

const spec = await load();
const text = generate(spec);
const specText = JSON.stringify(spec, null, 2) + "\n";
if (check) {
  const [currentSpec, currentOut] = await Promise.all([
    readFile(specFile, "utf8").catch(() => ""),
    readFile(outFile, "utf8").catch(() => ""),
  ]);
  const stale = [];
  if (from && currentSpec !== specText) stale.push("openapi.json");
  if (currentOut !== text) stale.push("src/generated.ts");
  if (stale.length) {
    console.error(
      `${stale.join(" and ")} are not current with ${from ?? "openapi.json"}: run \`npm run generate:system\` (or \`npm run generate -- --from <gateway>/openapi.json\`) in clients/typescript`,
    );
    process.exit(1);
  }
  console.log(`generated types are current with ${from ?? "openapi.json"}`);
} else {
  if (from) await writeFile(specFile, specText);
  await writeFile(outFile, text);
  console.log(`wrote ${path.relative(process.cwd(), outFile)} (${Object.keys(spec.paths).length} paths)`);
}
