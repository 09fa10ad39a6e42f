// The signed-in resident's own pages: bookings with each ticket's QR code (and cancelling),
// the waiting list, notifications.

import { h, mount, notice, announce, svgFromMarkup } from './dom.js';
import { t, when, errorText } from './i18n.js';
import { gql, session } from './api.js';
import { app, requireSignIn } from './state.js';

function ticketCard(ticket) {
  return h('li', { class: 'ticket', 'data-code': ticket.code, 'data-status': ticket.status },
    svgFromMarkup(ticket.qrSvg, t('qrOf', { code: ticket.code })),
    h('p', { class: 'code', text: ticket.code }),
    ticket.seat ? h('p', { class: 'seat-label', text: ticket.seat.label }) : null,
    h('p', { class: 'muted', text: t(`t_${ticket.status}`) + (ticket.checkedInAt ? ` · ${when(ticket.checkedInAt)}` : '') }));
}

function cancelControls(booking, message) {
  const wrap = h('div', { class: 'row' });
  const ask = h('button', { type: 'button', class: 'secondary', 'data-cancel': booking.id, text: t('cancel') });
  ask.addEventListener('click', () => {
    const yes = h('button', { type: 'button', 'data-confirm-cancel': booking.id, text: t('cancelConfirm', { n: booking.tickets.length }) });
    const no = h('button', { type: 'button', class: 'secondary', text: t('keep'), onclick: () => { mount(wrap, ask); ask.focus(); } });
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      try {
        await gql('mutation($id: ID!) { cancelBooking(id: $id) { id status } }', { id: booking.id });
        announce(t('cancelled'));
        app.navigate('#/bookings');
      } catch (e) {
        mount(message, notice(errorText(e)));
        yes.disabled = false;
      }
    });
    mount(wrap, yes, no);
    yes.focus();
  });
  wrap.append(ask);
  return wrap;
}

/** `#/bookings`: the resident's bookings, newest first; `?new=ID` greets a fresh one. */
export async function bookingsPage(main, params) {
  if (!session()) return requireSignIn();
  const fresh = params.get('new');
  let nodes;
  try {
    const d = await gql(`{ myBookings(first: 30) { nodes { id status createdAt seatsTogether
      performance { id title startsAt bookingClosesAt venue { name } }
      tickets { id code status checkedInAt qrSvg seat { label } } } } }`);
    nodes = d.myBookings.nodes;
  } catch (e) {
    mount(main, h('h1', { text: t('myBookings') }), notice(errorText(e)));
    return;
  }
  const list = h('div', { id: 'bookings' });
  mount(main, h('h1', { text: t('myBookings') }), fresh ? notice(t('booked'), 'good') : null, list);
  if (!nodes.length) list.append(notice(t('noBookings'), 'info'));
  for (const b of nodes) {
    const message = h('div');
    const live = b.status === 'CONFIRMED' && Date.now() < Date.parse(b.performance.bookingClosesAt);
    list.append(h('article', { class: 'card', id: `booking-${b.id}`, 'data-booking': b.id, 'data-status': b.status },
      h('h2', {}, h('a', { href: `#/p/${encodeURIComponent(b.performance.id)}`, text: b.performance.title })),
      h('p', { class: 'muted', text: `${when(b.performance.startsAt)} · ${b.performance.venue.name} · ${t(`status_${b.status}`)} · ${b.seatsTogether ? t('together') : t('apart')}` }),
      h('ul', { class: 'tickets', 'aria-label': b.performance.title }, b.tickets.map(ticketCard)),
      live ? cancelControls(b, message) : null, message));
  }
  if (fresh) {
    const el = document.getElementById(`booking-${fresh}`);
    if (el) el.scrollIntoView();
  }
}

/** `#/waitlist`: the resident's waiting-list entries. */
export async function waitlistPage(main) {
  if (!session()) return requireSignIn();
  try {
    const d = await gql(`{ myWaitlist(first: 30) { edges { node { id status quantity position offerExpiresAt
      performance { id title startsAt } } } } }`);
    const nodes = d.myWaitlist.edges.map((e) => e.node);
    mount(main, h('h1', { text: t('myWaitlist') }),
      nodes.length ? h('ul', { class: 'cards' }, nodes.map((w) => h('li', { class: 'card', 'data-waitlist': w.id },
        h('h2', {}, h('a', { href: `#/p/${encodeURIComponent(w.performance.id)}`, text: w.performance.title })),
        h('p', { text: `${when(w.performance.startsAt)} · ${w.quantity}` }),
        h('p', { text: w.status === 'WAITING' ? t('waiting', { n: w.position ?? '?', total: '…' }) : t(`wl_${w.status}`) }))))
        : notice(t('noWaitlist'), 'info'));
  } catch (e) {
    mount(main, h('h1', { text: t('myWaitlist') }), notice(errorText(e)));
  }
}

/** `#/notifications`: the resident's notifications, marked read once shown. */
export async function notificationsPage(main) {
  if (!session()) return requireSignIn();
  try {
    const d = await gql(`{ myNotifications(first: 50) { edges { node { id kind createdAt read message performance { id } } } } }`);
    const nodes = d.myNotifications.edges.map((e) => e.node);
    mount(main, h('h1', { text: t('notifications') }),
      nodes.length ? h('ul', { class: 'cards', id: 'notifications' }, nodes.map((n) => h('li', { class: 'card', 'data-kind': n.kind },
        h('p', { class: 'muted', text: when(n.createdAt) }),
        n.performance ? h('a', { href: `#/p/${encodeURIComponent(n.performance.id)}`, text: n.message }) : h('p', { text: n.message }))))
        : notice(t('noNotifications'), 'info'));
    if (nodes.some((n) => !n.read)) {
      await gql('mutation { markNotificationsRead }').catch(() => {});
      app.unread = 0;
    }
  } catch (e) {
    mount(main, h('h1', { text: t('notifications') }), notice(errorText(e)));
  }
}
