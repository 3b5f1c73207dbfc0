// The search box and "Mentions of me" at the top of the page, and the results
// in the main pane (in place of the room shown, which comes back when they
// close): each result says where and who, shows the message's whole text with
// the terms marked (text nodes and <mark>, never markup), and opens its
// message. The server says what a valid query is; the hint beside the box
// repeats its bounds from GET /config.

import { $, marked } from './dom.js';
import { roomLabel } from '../domain/rooms.js';

export class SearchView {
  /** @param {object} shell  { search (SearchViewModel), rooms, config, jumpToMessage(room, seq) } */
  constructor(shell) {
    this.shell = shell;
    this.ui = {
      form: $('search-form'),
      input: $('search-input'),
      hint: $('search-hint'),
      mentions: $('mentions-open'),
      panel: $('results'),
      chat: $('chat'),
      app: $('chat-app'),
      title: $('results-title'),
      close: $('results-close'),
      list: $('result-list'),
      empty: $('results-empty'),
      more: $('results-more'),
      error: $('results-error'),
    };
    const { ui } = this;
    const { search } = shell;
    const bounds = shell.config.search;
    if (bounds) {
      ui.input.minLength = bounds.min_query_chars;
      ui.input.maxLength = bounds.max_query_chars;
      ui.hint.textContent = `In every room you belong to; at least ${bounds.min_query_chars} characters.`;
    }
    search.addEventListener('change', () => this.render());
    search.addEventListener('error', (event) => {
      ui.error.textContent = event.detail.text;
    });
    ui.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#open('search', ui.input.value.trim());
    });
    ui.mentions.addEventListener('click', () => this.#open('mentions'));
    ui.more.addEventListener('click', () => {
      ui.error.textContent = '';
      search.more();
    });
    ui.close.addEventListener('click', () => {
      const kind = search.results?.kind;
      search.close();
      (kind === 'mentions' ? ui.mentions : ui.input).focus();
    });
    // Escape inside the results closes them, like the ✕.
    ui.panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') ui.close.click();
    });
  }

  #open(kind, q = '') {
    const { ui } = this;
    ui.error.textContent = '';
    ui.title.textContent = kind === 'search' ? `Results for “${q}”` : 'Mentions of you';
    // On a phone the main pane is the one shown.
    this.paneBefore ??= ui.app.dataset.view;
    ui.app.dataset.view = 'chat';
    this.shell.search.start(kind, q);
    ui.title.focus();
  }

  render() {
    const { ui } = this;
    const r = this.shell.search.results;
    ui.panel.hidden = !r;
    // The results take the main pane's place (layout.css hides the rest).
    ui.chat.toggleAttribute('data-results', Boolean(r));
    if (!r) {
      ui.list.replaceChildren();
      if (this.paneBefore !== undefined) ui.app.dataset.view = this.paneBefore;
      this.paneBefore = undefined;
      return;
    }
    if (r.loading) ui.panel.setAttribute('aria-busy', 'true');
    else ui.panel.removeAttribute('aria-busy');
    const terms = this.shell.search.terms;
    ui.list.replaceChildren(...r.items.map((m) => this.#renderResult(m, terms)));
    ui.more.hidden = !r.hasMore;
    ui.more.textContent = r.items.length > 0 ? 'More results' : 'Search older messages';
    // Said once the first page is in.
    ui.empty.hidden = !r.loaded || r.items.length > 0;
    ui.empty.textContent =
      r.kind === 'mentions'
        ? 'Nobody has mentioned you yet.'
        : r.hasMore
          ? 'No matches in the newest messages.'
          : 'No messages match.';
  }

  /** One result: where and who, and the text with the terms marked; a click jumps to it. */
  #renderResult(m, terms) {
    const room = this.shell.rooms.roomOf(m.room);
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'result';
    b.dataset.room = m.room;
    b.dataset.seq = String(m.seq);
    const where = document.createElement('span');
    where.className = 'result-meta';
    const at = new Date(m.created_at).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
    where.textContent = `${room ? roomLabel(room, m.room) : `# ${m.room}`} · ${m.sender} · ${at}`;
    const text = document.createElement('span');
    text.className = 'result-body';
    // The whole text: the matched word is never cut off.
    text.append(marked(m.body ?? '', terms));
    b.append(where, text);
    b.addEventListener('click', () => {
      // The room takes the main pane back, opened at the message.
      this.paneBefore = 'chat';
      this.shell.search.close();
      this.shell.jumpToMessage(m.room, m.seq);
    });
    const li = document.createElement('li');
    li.append(b);
    return li;
  }
}
