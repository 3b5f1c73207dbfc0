// Settings › Sessions: where I am signed in, this device marked, and
// "Sign out" beside every other one (the server ends that session's
// connections within seconds: README, "Accounts").

import { describeError } from '../../api.js';
import { SessionsViewModel, describeAgent } from '../../domain/sessions.js';
import { button } from '../dom.js';

const when = (iso) => new Date(iso).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });

export const sessionsSection = {
  id: 'sessions',
  title: 'Sessions',
  /** @param {object} shell  { session, announcer } */
  create(shell) {
    const vm = new SessionsViewModel({ session: shell.session });
    const element = document.createElement('div');
    const lead = document.createElement('p');
    lead.className = 'hint';
    lead.textContent = 'Where you are signed in. Signing a session out ends it on that device at once.';
    const list = document.createElement('ul');
    list.className = 'session-list';
    list.setAttribute('aria-label', 'Your sessions');
    const error = document.createElement('p');
    error.className = 'error';
    error.setAttribute('role', 'alert');
    element.append(lead, list, error);

    const render = () => {
      list.replaceChildren(
        ...vm.list.map((s) => {
          const item = document.createElement('li');
          item.className = 'session';
          item.dataset.sessionId = String(s.id);
          const text = document.createElement('div');
          const name = document.createElement('strong');
          name.textContent = describeAgent(s.user_agent);
          const detail = document.createElement('span');
          detail.className = 'hint';
          detail.textContent = `Signed in ${when(s.created_at)} · last active ${when(s.last_used_at)}`;
          text.append(name, ' ', detail);
          item.append(text);
          if (s.current) {
            const mark = document.createElement('span');
            mark.className = 'badge current';
            mark.textContent = 'This device';
            item.append(mark);
          } else {
            const out = button('Sign out', 'quiet');
            out.setAttribute('aria-label', `Sign out ${describeAgent(s.user_agent)}, signed in ${when(s.created_at)}`);
            out.addEventListener('click', async () => {
              error.textContent = '';
              out.disabled = true;
              try {
                await vm.signOut(s.id);
                shell.announcer.say('That session is signed out.');
              } catch (err) {
                error.textContent = describeError(err, { not_found: 'That session had already ended.' });
                out.disabled = false;
                vm.load();
              }
            });
            item.append(out);
          }
          return item;
        }),
      );
    };
    vm.addEventListener('change', render);
    vm.addEventListener('error', (event) => {
      error.textContent = event.detail.text;
    });
    return {
      element,
      open: () => {
        error.textContent = '';
        return vm.load();
      },
      close: () => vm.clear(),
    };
  },
};
