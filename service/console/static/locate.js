// Where in the submitted text an issue points: a FHIRPath location such as
// `Observation.component[1].valueCodeableConcept` mapped to the line of that element in the
// pasted JSON or XML. When the element itself is absent (a missing required element), the
// nearest enclosing element that is present is the answer: that is where it should be added.

// A parsed JSON value with the line its key (or, for the root and array items, itself) starts on.
// {line, kind: "object"|"array"|"value", fields: Map(name -> node) | items: node[]}

export class JsonSyntaxError extends Error {
  constructor(message, line) {
    super(`${message} (line ${line})`);
    this.line = line;
  }
}

// Parse JSON text keeping each element's line; throws JsonSyntaxError with the line on bad input.
export function parseJsonLines(text) {
  let at = 0;
  let line = 1;
  const fail = (message) => {
    throw new JsonSyntaxError(message, line);
  };
  const skipSpace = () => {
    while (at < text.length) {
      const c = text[at];
      if (c === "\n") line += 1;
      else if (c !== " " && c !== "\t" && c !== "\r") break;
      at += 1;
    }
  };
  const readString = () => {
    // at points at the opening quote
    const start = at;
    at += 1;
    while (at < text.length && text[at] !== '"') {
      if (text[at] === "\\") at += 1;
      else if (text[at] === "\n") fail("Unterminated string");
      at += 1;
    }
    if (at >= text.length) fail("Unterminated string");
    at += 1;
    try {
      return JSON.parse(text.slice(start, at));
    } catch {
      return fail("Bad escape in a string");
    }
  };
  const value = (keyLine) => {
    skipSpace();
    const startLine = keyLine ?? line;
    const c = text[at];
    if (c === "{") {
      at += 1;
      const fields = new Map();
      skipSpace();
      if (text[at] === "}") {
        at += 1;
        return { line: startLine, kind: "object", fields };
      }
      for (;;) {
        skipSpace();
        if (text[at] !== '"') fail("Expected a property name in double quotes");
        const nameLine = line;
        const name = readString();
        skipSpace();
        if (text[at] !== ":") fail("Expected ':' after a property name");
        at += 1;
        const child = value(nameLine);
        fields.set(name, child);
        skipSpace();
        if (text[at] === ",") {
          at += 1;
          continue;
        }
        if (text[at] === "}") {
          at += 1;
          const resourceType = fields.get("resourceType");
          return { line: startLine, kind: "object", fields, resourceType: resourceType && resourceType.text };
        }
        fail("Expected ',' or '}'");
      }
    }
    if (c === "[") {
      at += 1;
      const items = [];
      skipSpace();
      if (text[at] === "]") {
        at += 1;
        return { line: startLine, kind: "array", items };
      }
      for (;;) {
        items.push(value());
        skipSpace();
        if (text[at] === ",") {
          at += 1;
          continue;
        }
        if (text[at] === "]") {
          at += 1;
          return { line: startLine, kind: "array", items };
        }
        fail("Expected ',' or ']'");
      }
    }
    if (c === '"') {
      return { line: startLine, kind: "value", text: readString() };
    }
    const literal = /^(true|false|null|-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?)/.exec(text.slice(at, at + 64));
    if (!literal) fail(at >= text.length ? "Unexpected end of the text" : `Unexpected '${c}'`);
    at += literal[0].length;
    return { line: startLine, kind: "value" };
  };
  const root = value();
  skipSpace();
  if (at < text.length) fail("Unexpected text after the end of the JSON");
  return root;
}

// The steps of a FHIRPath location: [{name, index}] with functions that only narrow
// (`where(...)`, `ofType(...)`, `resolve()`) dropped, `extension('url')` kept as `extension`.
export function pathSteps(expression) {
  const steps = [];
  let rest = expression.trim();
  // Remove balanced (...) arguments, keeping the function name, so dots inside do not split.
  let flat = "";
  let depth = 0;
  for (const c of rest) {
    if (c === "(") depth += 1;
    if (depth === 0) flat += c;
    if (c === ")") depth -= 1;
  }
  rest = flat;
  for (const part of rest.split(".")) {
    const match = /^([A-Za-z_][\w-]*)(?:\[(\d+)\])?$/.exec(part);
    if (!match) continue;
    const [, name, index] = match;
    if (["where", "ofType", "resolve", "first", "as", "exists", "not", "single"].includes(name)) continue;
    steps.push({ name, index: index === undefined ? null : Number(index) });
  }
  return steps;
}

// The line an expression names in a tree from parseJsonLines or parseXmlLines (nearest present).
export function lineOf(tree, expression) {
  let node = tree;
  let found = tree.line;
  for (const step of pathSteps(expression || "")) {
    if (node.kind === "array" && step.index === null) node = node.items[0] ?? node;
    if (node.kind !== "object") break;
    // A type name (the root's resourceType, or `Bundle.entry[0].resource.Observation`) is no step.
    if (/^[A-Z]/.test(step.name) && !node.fields.has(step.name)) {
      if (node.resourceType === undefined || node.resourceType === step.name) continue;
      break;
    }
    const child = node.fields.get(step.name);
    if (child === undefined) break;
    if (child.kind === "array" && step.index !== null) {
      const item = child.items[step.index];
      if (item === undefined) {
        found = child.line;
        break;
      }
      node = item;
      found = item.line;
    } else {
      node = child;
      found = child.line;
    }
  }
  return found;
}

// FHIR XML as the same tree: an element's children by name, repeated names as an array (as in
// JSON), a resource inside `<contained>`/`<resource>` as the object with its resourceType.
export function parseXmlLines(text) {
  const root = { line: 1, kind: "object", fields: new Map(), resourceType: undefined };
  const stack = [root];
  const tag = /<(\/?)([A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)((?:\s+[^\s=>/]+\s*=\s*("[^"]*"|'[^']*'))*)\s*(\/?)>|<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[[\s\S]*?\]\]>/g;
  let line = 1;
  let last = 0;
  let match;
  while ((match = tag.exec(text)) !== null) {
    line += countLines(text, last, match.index);
    last = match.index;
    const [, closing, , name, , , selfClosing] = match;
    if (name === undefined) continue; // a comment, declaration or CDATA
    const parent = stack[stack.length - 1];
    if (closing) {
      if (stack.length > 1) stack.pop();
      continue;
    }
    const node = { line, kind: "object", fields: new Map(), resourceType: undefined };
    if (parent === root && root.resourceType === undefined) {
      // The document element is the resource: its children are the resource's elements.
      root.resourceType = name;
      root.line = line;
      if (!selfClosing) stack.push(root);
    } else if (/^[A-Z]/.test(name) && (parent.fields.size === 0 || parent.wrapsResource)) {
      // <contained><Patient>...: the inner element is the resource itself.
      parent.resourceType = name;
      parent.wrapsResource = true;
      if (!selfClosing) stack.push(parent);
    } else {
      const existing = parent.fields.get(name);
      if (existing === undefined) parent.fields.set(name, node);
      else if (existing.kind === "array") existing.items.push(node);
      else parent.fields.set(name, { line: existing.line, kind: "array", items: [existing, node] });
      if (!selfClosing) stack.push(node);
    }
  }
  return root;
}

function countLines(text, from, to) {
  let n = 0;
  for (let i = from; i < to; i += 1) if (text.charCodeAt(i) === 10) n += 1;
  return n;
}
