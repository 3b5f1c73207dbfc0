// A message body as Markdown: bold, italic, strikethrough, inline code, code
// blocks, links (and bare URLs), quotes and lists, with each `@name` the
// server resolved marked up. The parser is markdown-it (vendor/markdown-it,
// global `markdownit`, loaded by index.html) with `html: false`, so any HTML
// in a body stays text. Its output is never put into the page as HTML: it is
// parsed into an inert document (nothing in it runs or loads) and only the
// elements and attributes listed here are built again in the page, links
// only for http(s) and mailto. Everything else is kept as its text.

// A single newline stays a newline (shown as one: `white-space: pre-wrap`).
const md = globalThis.markdownit?.({ html: false, linkify: true, breaks: false, typographer: false });
// A chat line, not a document: "# x", "---" and tables stay as typed;
// images would load from anywhere (the CSP refuses them anyway): kept as text.
md?.disable(['heading', 'lheading', 'hr', 'table', 'image']);

/** Elements copied from markdown-it's output; any other is replaced by its content. */
const ALLOWED = new Set(['P', 'BR', 'STRONG', 'EM', 'DEL', 'S', 'CODE', 'PRE', 'BLOCKQUOTE', 'UL', 'OL', 'LI', 'A']);
/** Where `@name` is left as typed. */
const NO_MENTIONS = new Set(['CODE', 'PRE', 'A']);
const LINK_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);
/** Blocks whose whitespace-only text is markdown-it's layout, not the message. */
const BLOCK_CONTAINERS = new Set(['BODY', 'UL', 'OL', 'LI', 'BLOCKQUOTE']);

/**
 * `text` rendered as a fragment of safe elements. `mentions` are the names
 * the server resolved in it; `me` marks mine more strongly.
 */
export function renderBody(text, mentions, me) {
  const names = new Set((mentions ?? []).map((u) => u.toLowerCase()));
  const out = document.createDocumentFragment();
  // Spaces alone (the server accepts them) stay as written.
  if (!md || text.trim() === '') {
    out.append(withMentions(text, names, me));
    return out;
  }
  const parsed = new DOMParser().parseFromString(md.render(text), 'text/html');
  copyChildren(parsed.body, out, names, me, true);
  return out;
}

function copyChildren(from, to, names, me, mentionsHere) {
  const layout = BLOCK_CONTAINERS.has(from.nodeName);
  for (const node of from.childNodes) {
    if (node.nodeType === Node.TEXT_NODE) {
      // markdown-it puts a newline between blocks: not part of the message.
      if (layout && node.data.trim() === '') continue;
      to.append(mentionsHere ? withMentions(node.data, names, me) : node.data);
    } else if (node.nodeType === Node.ELEMENT_NODE) {
      to.append(copyElement(node, names, me, mentionsHere));
    }
  }
}

function copyElement(node, names, me, mentionsHere) {
  const tag = node.tagName;
  const inner = mentionsHere && !NO_MENTIONS.has(tag);
  if (!ALLOWED.has(tag)) {
    const content = document.createDocumentFragment();
    copyChildren(node, content, names, me, inner);
    return content;
  }
  if (tag === 'A') {
    const href = safeHref(node.getAttribute('href'));
    if (!href) {
      // Not a link we follow: its text, as typed.
      return document.createTextNode(node.textContent);
    }
    const link = document.createElement('a');
    link.href = href;
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    copyChildren(node, link, names, me, false);
    return link;
  }
  const el = document.createElement(tag.toLowerCase());
  if (tag === 'OL') {
    const start = Number(node.getAttribute('start'));
    if (Number.isInteger(start) && start > 0) el.start = start;
  }
  copyChildren(node, el, names, me, inner);
  return el;
}

/** `href` when it is an absolute http(s) or mailto URL, else null. */
function safeHref(href) {
  if (!href) return null;
  try {
    const url = new URL(href);
    return LINK_PROTOCOLS.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

/** `text` as text nodes, each `@name` the server resolved marked up. */
function withMentions(text, names, me) {
  const out = document.createDocumentFragment();
  if (names.size === 0) {
    out.append(text);
    return out;
  }
  let last = 0;
  for (const match of text.matchAll(/@([A-Za-z0-9_.-]+)/g)) {
    const raw = match[1];
    const name = raw.toLowerCase();
    if (!names.has(name)) continue;
    out.append(text.slice(last, match.index));
    const mark = document.createElement('span');
    mark.className = 'mention';
    if (name === me.toLowerCase()) {
      mark.classList.add('me');
      mark.title = 'Mentions you';
    }
    mark.textContent = `@${raw}`;
    out.append(mark);
    last = match.index + 1 + raw.length;
  }
  out.append(text.slice(last));
  return out;
}
