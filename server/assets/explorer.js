// graft explorer: runs GraphQL requests against this page's own URL and browses the schema
// through introspection. No dependencies; nothing is loaded from elsewhere.
// A URL fragment `#query=...&variables=...&run=1` pre-fills the editor (and runs it).
"use strict";

const endpoint = window.location.pathname;
const $ = (id) => document.getElementById(id);
const introspectionEnabled = document.body.dataset.introspection === "true";

async function post(query, variables, operationName) {
  const response = await fetch(endpoint, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json;q=0.9",
    },
    body: JSON.stringify({ query, variables, operationName }),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch (_) {
    body = text;
  }
  return { status: response.status, body };
}

async function run() {
  const result = $("result");
  let variables = {};
  const text = $("variables").value.trim();
  if (text) {
    try {
      variables = JSON.parse(text);
    } catch (e) {
      result.dataset.state = "error";
      result.textContent = "Variables are not valid JSON: " + e.message;
      return;
    }
  }
  result.dataset.state = "running";
  $("status").textContent = "Running…";
  const started = performance.now();
  try {
    const { status, body } = await post($("query").value, variables);
    const ms = Math.round(performance.now() - started);
    $("status").textContent = `HTTP ${status} in ${ms} ms`;
    result.textContent = typeof body === "string" ? body : JSON.stringify(body, null, 2);
    result.dataset.state = status === 200 && !(body && body.errors) ? "done" : "error";
  } catch (e) {
    $("status").textContent = "";
    result.dataset.state = "error";
    result.textContent = "Request failed: " + e.message;
  }
  try {
    localStorage.setItem("graft.query", $("query").value);
    localStorage.setItem("graft.variables", $("variables").value);
  } catch (_) {
    // Storage may be unavailable (private mode); the editor still works.
  }
}

const TYPE_REF = "kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";
const INTROSPECTION = `query GraftExplorerIntrospection {
  __schema {
    queryType { name } mutationType { name } subscriptionType { name }
    types {
      kind name description
      fields(includeDeprecated: true) {
        name description isDeprecated deprecationReason
        args { name description defaultValue type { ${TYPE_REF} } }
        type { ${TYPE_REF} }
      }
      inputFields { name description defaultValue type { ${TYPE_REF} } }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
      possibleTypes { name }
    }
  }
}`;

let schema = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "onclick") node.addEventListener("click", v);
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child != null) node.append(child);
  }
  return node;
}

function typeLink(ref) {
  if (ref.kind === "NON_NULL") {
    const inner = typeLink(ref.ofType);
    return el("span", {}, inner, "!");
  }
  if (ref.kind === "LIST") {
    return el("span", {}, "[", typeLink(ref.ofType), "]");
  }
  return el("a", { "data-type": ref.name, onclick: () => showType(ref.name) }, ref.name);
}

function description(text) {
  return text ? el("div", { class: "desc" }, text) : null;
}

function showType(name) {
  const type = schema.types.find((t) => t.name === name);
  const pane = $("type");
  pane.replaceChildren();
  if (!type) return;
  pane.append(el("h2", {}, type.name, el("span", { class: "kind" }, type.kind.toLowerCase())));
  pane.append(description(type.description) || "");
  for (const field of type.fields || []) {
    const line = el("div", { class: "field" + (field.isDeprecated ? " deprecated" : "") }, field.name);
    if (field.args.length) {
      line.append("(");
      field.args.forEach((arg, i) => {
        if (i) line.append(", ");
        line.append(arg.name + ": ", typeLink(arg.type));
        if (arg.defaultValue != null) line.append(" = " + arg.defaultValue);
      });
      line.append(")");
    }
    line.append(": ", typeLink(field.type));
    line.append(description(field.description) || "");
    for (const arg of field.args) {
      if (arg.description) line.append(el("div", { class: "desc" }, arg.name + ": " + arg.description));
    }
    if (field.isDeprecated) line.append(description("Deprecated: " + (field.deprecationReason || "")));
    pane.append(line);
  }
  for (const field of type.inputFields || []) {
    const line = el("div", { class: "field" }, field.name + ": ", typeLink(field.type));
    if (field.defaultValue != null) line.append(" = " + field.defaultValue);
    line.append(description(field.description) || "");
    pane.append(line);
  }
  for (const value of type.enumValues || []) {
    pane.append(el("div", { class: "field" + (value.isDeprecated ? " deprecated" : "") }, value.name, description(value.description)));
  }
  if (type.possibleTypes && type.possibleTypes.length) {
    const line = el("div", { class: "field" }, "one of: ");
    type.possibleTypes.forEach((t, i) => {
      if (i) line.append(" | ");
      line.append(typeLink({ kind: "OBJECT", name: t.name }));
    });
    pane.append(line);
  }
}

function listTypes() {
  const filter = $("filter").value.trim().toLowerCase();
  const roots = [schema.queryType, schema.mutationType, schema.subscriptionType].filter(Boolean).map((t) => t.name);
  // Root types first (query, mutation, subscription), then the graph's own, then built-ins.
  const builtins = ["Boolean", "Float", "ID", "Int", "String"];
  const rank = (t) => (roots.includes(t.name) ? roots.indexOf(t.name) : builtins.includes(t.name) ? 10 : 5);
  const types = schema.types
    .filter((t) => !t.name.startsWith("__"))
    .filter((t) => !filter || t.name.toLowerCase().includes(filter))
    .sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  $("types").replaceChildren(
    ...types.map((t) => el("a", { "data-type": t.name, onclick: () => showType(t.name) }, t.name, el("span", { class: "kind" }, t.kind.toLowerCase())))
  );
}

async function loadSchema() {
  if (!introspectionEnabled) {
    $("types").textContent = "Introspection is disabled on this server.";
    return;
  }
  try {
    const { body } = await post(INTROSPECTION, {}, "GraftExplorerIntrospection");
    if (!body || !body.data || !body.data.__schema) {
      $("types").textContent = "The schema could not be loaded: " + JSON.stringify(body && body.errors);
      return;
    }
    schema = body.data.__schema;
    listTypes();
    if (schema.queryType) showType(schema.queryType.name);
    document.body.dataset.schema = "loaded";
  } catch (e) {
    $("types").textContent = "The schema could not be loaded: " + e.message;
  }
}

function restore() {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  if (fragment.has("query")) {
    $("query").value = fragment.get("query");
    if (fragment.has("variables")) $("variables").value = fragment.get("variables");
    return fragment.get("run") === "1";
  }
  try {
    const saved = localStorage.getItem("graft.query");
    if (saved) $("query").value = saved;
    const vars = localStorage.getItem("graft.variables");
    if (vars) $("variables").value = vars;
  } catch (_) {
    // No storage: keep the defaults.
  }
  return false;
}

$("run").addEventListener("click", run);
document.addEventListener("keydown", (e) => {
  if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
    e.preventDefault();
    run();
  }
});
$("filter").addEventListener("input", () => schema && listTypes());
const autorun = restore();
loadSchema().then(() => (autorun ? run() : undefined));
