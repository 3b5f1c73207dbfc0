// Settings › Bots (README, "Bots and webhooks"): my bots, a form to create
// one, its API token shown once (to copy), "New token" (the old one stops
// working and the bot's connections end) and "Delete" beside each (asked
// first: the bot is deleted as an account is, its messages erased).

import { describeError } from '../../api.js';
import { confirmAction } from '../confirm.js';
import { button, setBusy } from '../dom.js';

export const botsSection = {
  id: 'bots',
  title: 'Bots',
  /** @param {object} shell  { session, announcer } */
  create(shell) {
    const element = document.createElement('div');
    const lead = document.createElement('p');
    lead.className = 'hint';
    lead.textContent =
      'A bot signs in with an API token instead of a password (as a Bearer token or the STOMP passcode).';
    const list = document.createElement('ul');
    list.className = 'plain-list bot-list';
    list.setAttribute('aria-label', 'Your bots');
    const form = document.createElement('form');
    form.className = 'stack compact';
    const label = document.createElement('label');
    label.htmlFor = 'new-bot-name';
    label.textContent = 'Name of a new bot';
    const row = document.createElement('div');
    row.className = 'row';
    const name = document.createElement('input');
    name.id = 'new-bot-name';
    name.required = true;
    name.maxLength = 32;
    name.autocomplete = 'off';
    name.spellcheck = false;
    const create = document.createElement('button');
    create.type = 'submit';
    create.textContent = 'Create bot';
    row.append(name, create);
    form.append(label, row);
    const shown = document.createElement('div');
    shown.className = 'stack compact';
    shown.hidden = true;
    const shownText = document.createElement('p');
    shownText.id = 'bot-token-text';
    const tokenRow = document.createElement('div');
    tokenRow.className = 'row';
    const token = document.createElement('input');
    token.readOnly = true;
    token.setAttribute('aria-labelledby', 'bot-token-text');
    const copy = button('Copy');
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(token.value);
        copy.textContent = 'Copied';
      } catch {
        token.select();
      }
    });
    tokenRow.append(token, copy);
    shown.append(shownText, tokenRow);
    const error = document.createElement('p');
    error.className = 'error';
    error.setAttribute('role', 'alert');
    element.append(lead, list, form, shown, error);

    const show = (who, value) => {
      shownText.textContent = `The token of ${who}. It is shown only now:`;
      token.value = value;
      copy.textContent = 'Copy';
      shown.hidden = false;
      token.focus();
      token.select();
    };
    const load = async () => {
      try {
        const { bots } = await shell.session.request('GET', '/bots');
        list.replaceChildren(...bots.map((bot) => {
          const item = document.createElement('li');
          const span = document.createElement('span');
          span.textContent = bot.username;
          const rotate = button('New token', 'quiet');
          rotate.setAttribute('aria-label', `New token for ${bot.username}`);
          rotate.addEventListener('click', async () => {
            error.textContent = '';
            try {
              const made = await shell.session.request('POST', `/bots/${encodeURIComponent(bot.username)}/token`);
              show(bot.username, made.token);
            } catch (err) {
              error.textContent = describeError(err);
            }
          });
          const remove = button('Delete', 'quiet');
          remove.setAttribute('aria-label', `Delete ${bot.username}`);
          remove.addEventListener('click', async () => {
            error.textContent = '';
            const sure = await confirmAction({
              title: `Delete ${bot.username}?`,
              text: 'Its token stops working, its connections end and the text of every message it sent is erased. Its name stays taken. This cannot be undone.',
              confirm: 'Delete bot',
            });
            if (!sure) return;
            try {
              await shell.session.request('DELETE', `/bots/${encodeURIComponent(bot.username)}`);
              shown.hidden = true;
              shell.announcer?.say(`${bot.username} is deleted.`);
              await load();
            } catch (err) {
              error.textContent = describeError(err);
            }
          });
          item.append(span, ' ', rotate, ' ', remove);
          return item;
        }));
      } catch (err) {
        error.textContent = describeError(err);
      }
    };
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      error.textContent = '';
      setBusy(form, true);
      try {
        const made = await shell.session.request('POST', '/bots', { username: name.value.trim() });
        form.reset();
        show(made.user.username, made.token);
        await load();
      } catch (err) {
        error.textContent = describeError(err);
      } finally {
        setBusy(form, false);
      }
    });
    return {
      element,
      open: load,
      close: () => {
        shown.hidden = true;
        token.value = '';
      },
    };
  },
};
