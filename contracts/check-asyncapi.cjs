// Validates asyncapi.yaml with the official AsyncAPI parser, resolving its
// $refs to schemas/ from disk, and fails on any error or warning. Then checks
// each message's examples (generated from the real serialisation) against
// its headers schema and, under Draft 2020-12, its payload schema.
// Run by scripts/check-contracts.sh, which installs the packages.
const path = require('path');
const { Parser, fromFile } = require('@asyncapi/parser');
const Ajv = require('ajv').default;
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;

const severities = ['error', 'warning', 'info', 'hint'];
const draft07 = addFormats(new Ajv({ strict: false, allErrors: true }));
const draft2020 = addFormats(new Ajv2020({ strict: true, allErrors: true }));

// A schema as written: without the keys the parser adds.
function written(schema) {
  if (Array.isArray(schema)) return schema.map(written);
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(Object.entries(schema)
    .filter(([key]) => !key.startsWith('x-parser-')).map(([key, value]) => [key, written(value)]));
}

function check(ajv, json, value, what) {
  const schema = written(json);
  const validate = (schema.$id && ajv.getSchema(schema.$id)) || ajv.compile(schema);
  if (validate(value)) return [];
  return validate.errors.map((e) => `${what}${e.instancePath}: ${e.message}`);
}

async function main(file) {
  const { document, diagnostics } = await fromFile(new Parser(), file).parse();
  const problems = diagnostics
    .filter((d) => d.severity <= 1)
    .map((d) => `${severities[d.severity]}: ${d.code} at ${d.path.join('/') || '/'}: ${d.message}`);
  if (document) {
    for (const message of document.allMessages()) {
      const payload = message.payload();
      // An unresolved $ref has no properties: the payload must come from its file.
      if (!payload || payload.$schema() !== 'https://json-schema.org/draft/2020-12/schema') {
        problems.push(`error: message ${message.id()}: payload schema not resolved from schemas/`);
        continue;
      }
      for (const example of message.examples()) {
        const what = `error: message ${message.id()} example ${example.name()}`;
        problems.push(...check(draft07, message.headers().json(), example.headers(), `${what} headers`));
        problems.push(...check(draft2020, payload.json(), example.payload(), `${what} payload`));
      }
    }
  }
  problems.forEach((p) => console.log(p));
  if (!document || problems.length > 0) return 1;
  console.log(`${path.basename(file)}: AsyncAPI ${document.version()}, ${document.channels().length} channels, ` +
    `${document.operations().length} operations, ${document.allMessages().length} messages, valid`);
  return 0;
}

main(process.argv[2] || path.join(__dirname, 'asyncapi.yaml')).then(
  (code) => process.exit(code),
  (error) => { console.log(`error: ${error.stack || error}`); process.exit(1); },
);
