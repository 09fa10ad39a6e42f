// The waiting list on a performance page: join when sold out, see the position, accept or
// decline an offer while its countdown runs. Used only when the schema has it.

import { h, notice, announce } from './dom.js';
import { t, errorText } from './i18n.js';
import { gql } from './api.js';
import { app } from './state.js';

let ticking = null;

function countdown(until, onEnd) {
  const out = h('span', { class: 'countdown', id: 'offer-countdown', role: 'timer' });
  clearInterval(ticking);
  const paint = () => {
    const left = Math.max(0, Math.floor((Date.parse(until) - Date.now()) / 1000));
    out.textContent = `${String(Math.floor(left / 60)).padStart(2, '0')}:${String(left % 60).padStart(2, '0')}`;
    if (left === 0) { clearInterval(ticking); onEnd(); }
  };
  paint();
  ticking = setInterval(paint, 1000);
  app.cleanup.push(() => clearInterval(ticking));
  return out;
}

async function act(mutation, id, message, after) {
  try {
    const d = await gql(mutation, { id });
    after(d);
  } catch (e) {
    message.replaceChildren(notice(errorText(e, { CONFLICT: 'waitlistConflict' })));
  }
}

/**
 * The waiting-list part of the booking panel: `viewer` holds the viewer's fields of the
 * performance, `free` what it could book now, `wanted` the party size chosen.
 */
export function waitlistBox(p, viewer, free, wanted, refresh) {
  const entry = viewer.viewerWaitlistEntry;
  const message = h('div');
  clearInterval(ticking);
  if (entry && entry.status === 'OFFERED') {
    const seats = entry.offeredSeats.map((s) => s.label).join('、');
    return h('div', { class: 'notice good', id: 'waitlist-offer', role: 'status' },
      h('p', { text: t('offer', { seats }) }),
      h('p', {}, `${t('offerLeft')}：`, countdown(entry.offerExpiresAt, refresh)),
      h('div', { class: 'row' },
        h('button', { type: 'button', id: 'offer-accept', onclick: () => act('mutation($id: ID!) { acceptWaitlistOffer(id: $id) { id } }', entry.id, message,
          (d) => app.navigate(`#/bookings?new=${encodeURIComponent(d.acceptWaitlistOffer.id)}`)), text: t('accept') }),
        h('button', { type: 'button', class: 'secondary', id: 'offer-decline', onclick: () => act('mutation($id: ID!) { declineWaitlistOffer(id: $id) { id status } }', entry.id, message,
          () => { announce(t('wl_DECLINED')); refresh(); }), text: t('decline') })),
      message);
  }
  if (entry && entry.status === 'WAITING') {
    return h('div', { class: 'notice info', id: 'waitlist-waiting' },
      h('p', { text: t('waiting', { n: entry.position ?? '?', total: viewer.waitlistLength ?? '?' }) }),
      h('button', { type: 'button', class: 'secondary', id: 'waitlist-leave', onclick: () => act('mutation($id: ID!) { leaveWaitlist(id: $id) { id status } }', entry.id, message, refresh), text: t('leave') }),
      message);
  }
  if (free < wanted) {
    return h('div', {},
      h('button', { type: 'button', id: 'waitlist-join', onclick: async () => {
        try {
          await gql('mutation($i: JoinWaitlistInput!) { joinWaitlist(input: $i) { id status position } }', { i: { performanceId: p.id, quantity: wanted } });
          refresh();
        } catch (e) {
          message.replaceChildren(notice(errorText(e, { CONFLICT: 'waitlistConflict' })));
        }
      }, text: t('joinWaitlist', { n: wanted }) }),
      message);
  }
  return h('div');
}
