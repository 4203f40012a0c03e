/**
 * A lossless, order-preserving XML tree for libvirt domain documents.
 *
 * fast-xml-parser in `preserveOrder` mode keeps element order, attribute order,
 * comments, CDATA and whitespace, and with `processEntities: false` it never
 * expands or rewrites entity references, so a parse/build round trip returns the
 * document unchanged except for cosmetic normalisations (self-closing tags become
 * explicit end tags, attribute quotes become double quotes). DTDs are refused
 * before parsing: no entity is ever declared, so none can be expanded.
 */
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { InputError, InputTooLargeError } from '../common/errors.js';

/** One node: `{ tagName: children, ':@'?: attributes }`, or `{ '#text': string }`, etc. */
export type XmlNode = Record<string, unknown> & { ':@'?: Record<string, string> };

const ATTRS = ':@';
const TEXT = '#text';
const COMMENT = '#comment';
const CDATA = '#cdata';

const COMMON_OPTIONS = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  trimValues: false,
  processEntities: false,
  htmlEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  commentPropName: COMMENT,
  cdataPropName: CDATA,
  ignoreDeclaration: false,
  ignorePiTags: false,
  allowBooleanAttributes: false,
} as const;

const parser = new XMLParser(COMMON_OPTIONS);
const builder = new XMLBuilder({ ...COMMON_OPTIONS, format: false, suppressEmptyNode: false, suppressBooleanAttributes: false });

/** Largest document accepted; a KubeVirt domain is typically 5 to 50 KiB. */
export const MAX_XML_BYTES = 2 * 1024 * 1024;
/** Deepest element nesting accepted; libvirt domains are about 6 deep. */
export const MAX_XML_DEPTH = 64;

/** A parsed document: the top-level nodes and the whitespace that followed the root. */
export interface XmlDocument {
  nodes: XmlNode[];
  trailing: string;
}

/** Parses `text`; `field` names the input in errors (e.g. "domainXML"). */
export function parseXml(text: string, field: string): XmlDocument {
  const size = Buffer.byteLength(text);
  if (size > MAX_XML_BYTES) throw new InputTooLargeError(field, size, MAX_XML_BYTES);
  const declaration = /<!(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)\b/i.exec(text);
  if (declaration) {
    throw new InputError(field, `contains a <!${declaration[1]!.toUpperCase()}> declaration; DTDs and entity declarations are not accepted`);
  }
  const markup = strayMarkupDeclaration(text);
  if (markup !== undefined) {
    const { line, column } = lineAndColumn(text, markup);
    throw new InputError(field, `is not well-formed XML at line ${line}, column ${column}: "<!" starts neither a comment nor a CDATA section`);
  }
  const depth = maxNestingDepth(text);
  if (depth > MAX_XML_DEPTH) throw new InputError(field, `nests elements ${depth} deep; at most ${MAX_XML_DEPTH} levels are accepted`);
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) {
    throw new InputError(field, `is not well-formed XML at line ${valid.err.line}, column ${valid.err.col}: ${valid.err.msg}`);
  }
  let nodes: XmlNode[];
  try {
    nodes = parser.parse(text) as XmlNode[];
  } catch (error) {
    throw new InputError(field, `is not well-formed XML: ${(error as Error).message}`);
  }
  const trailing = /\s*$/.exec(text)?.[0] ?? '';
  return { nodes, trailing };
}

export function serializeXml(doc: XmlDocument): string {
  return (builder.build(doc.nodes) as string) + doc.trailing;
}

/**
 * The offset of a `<!` that opens neither a comment nor a CDATA section, if any.
 * fast-xml-parser's validator lets such markup through (`<a><!</a>`) and its parser
 * then builds a tree that serializes to malformed XML, so it is refused here.
 */
function strayMarkupDeclaration(text: string): number | undefined {
  for (let at = text.indexOf('<!'); at >= 0; at = text.indexOf('<!', at + 2)) {
    if (text.startsWith('<!--', at)) {
      const end = text.indexOf('-->', at + 4);
      if (end < 0) return at;
      at = end + 1;
    } else if (text.startsWith('<![CDATA[', at)) {
      const end = text.indexOf(']]>', at + 9);
      if (end < 0) return at;
      at = end + 1;
    } else {
      return at;
    }
  }
  return undefined;
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}

/**
 * Upper bound of element nesting, counted from tags without a full parse, so a
 * hostile document cannot exhaust the recursive parser's stack.
 */
function maxNestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  const tag = /<(\/?)[A-Za-z_][^<>]*?(\/?)>/g;
  for (let m = tag.exec(text); m !== null; m = tag.exec(text)) {
    if (m[1] === '/') depth--;
    else if (m[2] !== '/') {
      depth++;
      if (depth > max) max = depth;
    }
  }
  return max;
}

/** The tag name of an element node, or undefined for text, comments, CDATA, PIs. */
export function tagName(node: XmlNode): string | undefined {
  for (const key of Object.keys(node)) {
    if (key === ATTRS) continue;
    if (key === TEXT || key === COMMENT || key === CDATA || key.startsWith('?')) return undefined;
    return key;
  }
  return undefined;
}

export function children(node: XmlNode): XmlNode[] {
  const name = tagName(node);
  if (name === undefined) return [];
  return node[name] as XmlNode[];
}

export function attributes(node: XmlNode): Record<string, string> {
  if (!node[ATTRS]) node[ATTRS] = {};
  return node[ATTRS];
}

export function attribute(node: XmlNode, name: string): string | undefined {
  return node[ATTRS]?.[name];
}

export function elements(nodes: XmlNode[], name?: string): XmlNode[] {
  return nodes.filter((n) => {
    const tag = tagName(n);
    return tag !== undefined && (name === undefined || tag === name);
  });
}

/** A new element; attribute order is the object's key order. */
export function element(name: string, attrs: Record<string, string> = {}, kids: XmlNode[] = []): XmlNode {
  const node: XmlNode = { [name]: kids };
  if (Object.keys(attrs).length > 0) node[ATTRS] = { ...attrs };
  return node;
}

/** The text content of an element (its direct text children joined). */
export function textContent(node: XmlNode): string {
  return children(node)
    .map((c) => (typeof c[TEXT] === 'string' || typeof c[TEXT] === 'number' ? String(c[TEXT]) : ''))
    .join('');
}

/** The single root element of a document. */
export function rootElement(doc: XmlDocument, field: string): XmlNode {
  const roots = elements(doc.nodes);
  if (roots.length !== 1) throw new InputError(field, `has ${roots.length} root elements; exactly one is accepted`);
  return roots[0]!;
}
