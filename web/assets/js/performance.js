// One performance: its facts, the live seat map, booking (best N or picked seats), the
// waiting list, shares and the production, as far as the server's schema has them.

import { h, mount, notice, announce } from './dom.js';
import { t, when, price, errorText } from './i18n.js';
import { gql, session, subscribe, onReconnect } from './api.js';
import { seatMap, legend } from './seatmap.js';
import { app, requireSignIn } from './state.js';
import { waitlistBox } from './waitlist.js';

function viewerFields() {
  const f = app.features;
  const parts = [];
  if (f.has('Performance', 'seatsAvailableToViewer')) parts.push('seatsAvailableToViewer');
  if (f.has('Performance', 'waitlistLength')) parts.push('waitlistLength');
  if (f.has('Performance', 'viewerWaitlistEntry')) {
    parts.push('viewerWaitlistEntry { id status quantity position offerExpiresAt offeredSeats { id label } }');
  }
  return parts.join(' ');
}

function optionalFields() {
  const f = app.features;
  const parts = [viewerFields()];
  if (f.has('Performance', 'production')) parts.push('production { id title followers viewerFollows }');
  if (f.has('Performance', 'seatShares')) parts.push('seatShares { center { id name } seats booked }');
  if (f.has('Performance', 'sharesReleaseAt')) parts.push('sharesReleaseAt');
  return parts.join(' ');
}

function followButton(production) {
  const button = h('button', { class: 'secondary', id: 'follow', 'aria-pressed': production.viewerFollows ? 'true' : 'false' });
  const count = h('span', { class: 'muted' });
  const paint = (p) => {
    button.textContent = p.viewerFollows ? t('unfollow') : t('follow');
    button.setAttribute('aria-pressed', p.viewerFollows ? 'true' : 'false');
    count.textContent = t('followers', { n: p.followers });
  };
  paint(production);
  button.addEventListener('click', async () => {
    if (!session()) return requireSignIn();
    const op = button.getAttribute('aria-pressed') === 'true' ? 'unfollowProduction' : 'followProduction';
    try {
      const d = await gql(`mutation($id: ID!) { ${op}(id: $id) { id followers viewerFollows } }`, { id: production.id });
      paint(d[op]);
    } catch (e) {
      announce(errorText(e));
    }
  });
  return h('div', { class: 'row' }, button, count);
}

function facts(p) {
  const rows = [
    [t('time'), `${when(p.startsAt)} – ${when(p.endsAt, { timeStyle: 'short' })}`],
    [t('venue'), `${p.venue.name}（${p.venue.address}）`],
    [t('host'), p.hostCenter.name],
    [t('origin'), p.originCenter.name],
    [t('price'), price(p.priceCents)],
    [t('limit'), String(p.perResidentLimit)],
    [t('window'), `${when(p.bookingOpensAt)} – ${when(p.bookingClosesAt)}`],
  ];
  if (p.production) rows.unshift([t('production'), p.production.title]);
  return h('dl', { class: 'facts' }, rows.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })]));
}

function sharesBox(p) {
  if (!p.seatShares || !p.seatShares.length) return null;
  return h('section', { 'aria-labelledby': 'shares-h' },
    h('h2', { id: 'shares-h', text: t('shares') }),
    h('ul', {}, p.seatShares.map((s) => h('li', { text: t('shareLine', { center: s.center.name, seats: s.seats, booked: s.booked }) }))),
    p.sharesReleaseAt ? h('p', { class: 'muted', text: t('sharesRelease', { time: when(p.sharesReleaseAt) }) }) : null);
}

function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`;
}

/** Renders the performance `id` into `main`. */
export async function performancePage(main, id) {
  let p;
  try {
    const d = await gql(`query($id: ID!) { performance(id: $id) {
      id title description category status startsAt endsAt priceCents perResidentLimit bookingOpensAt bookingClosesAt
      cancellationReason capacity seatsAvailable
      venue { name address seating } hostCenter { id name } originCenter { id name }
      seatMap { state seat { id section row number label accessible } } ${optionalFields()} } }`, { id });
    p = d.performance;
  } catch (e) {
    mount(main, notice(errorText(e)));
    return;
  }
  if (!p) {
    mount(main, notice(errorText({ code: 'NOT_FOUND' })), h('p', {}, h('a', { href: '#/', text: t('back') })));
    return;
  }
  const me = session();
  const isResident = me && me.account.role === 'RESIDENT';
  const reserved = p.venue.seating === 'RESERVED';
  const now = Date.now();
  const open = p.status === 'PUBLISHED' && Date.parse(p.bookingOpensAt) <= now && now < Date.parse(p.bookingClosesAt);
  const message = h('div', { id: 'book-message', 'aria-live': 'polite' });
  const counter = h('strong', { id: 'seats-available', text: String(p.seatsAvailable) });
  const viewerLine = h('p', { id: 'viewer-available' });
  const waitBox = h('div', { id: 'waitlist-box' });
  let viewer = p;

  const maxQty = Math.max(1, p.perResidentLimit);
  const qty = h('select', { id: 'quantity', name: 'quantity' },
    Array.from({ length: maxQty }, (_, i) => h('option', { value: i + 1, selected: i === 1 || (maxQty === 1 && i === 0), text: String(i + 1) })));
  const bestButton = h('button', { type: 'button', id: 'book-best' });
  const pickedButton = h('button', { type: 'button', id: 'book-picked', class: 'secondary', disabled: true });
  let map = null;
  const paintButtons = (picked = map ? map.selected() : []) => {
    bestButton.textContent = reserved ? t('bookBest', { n: qty.value }) : t('bookPlaces', { n: qty.value });
    pickedButton.textContent = t('bookPicked', { n: picked.length });
    pickedButton.disabled = picked.length === 0;
  };
  qty.addEventListener('change', () => paintButtons());

  async function book(input, button) {
    if (!session()) return requireSignIn();
    button.disabled = true;
    mount(message);
    try {
      const d = await gql('mutation($i: BookSeatsInput!) { bookSeats(input: $i) { id } }', { i: { performanceId: p.id, idempotencyKey: newKey(), ...input } });
      app.navigate(`#/bookings?new=${encodeURIComponent(d.bookSeats.id)}`);
    } catch (e) {
      mount(message, notice(errorText(e)));
      button.disabled = false;
      paintButtons();
      refreshViewer();
    }
  }
  bestButton.addEventListener('click', () => book({ quantity: Number(qty.value) }, bestButton));
  pickedButton.addEventListener('click', () => book({ seatIds: map.selected() }, pickedButton));

  function paintViewer() {
    counter.textContent = String(viewer.seatsAvailable ?? p.seatsAvailable);
    if (viewer.seatsAvailableToViewer !== undefined && isResident) {
      viewerLine.textContent = `${t('available')}：${viewer.seatsAvailableToViewer}`;
    }
    if (app.features.has('Mutation', 'joinWaitlist') && isResident && open) {
      const free = viewer.seatsAvailableToViewer ?? viewer.seatsAvailable ?? p.seatsAvailable;
      mount(waitBox, waitlistBox(p, viewer, free, Number(qty.value), () => refreshViewer()));
    }
  }

  let pending = null;
  async function refreshViewer() {
    clearTimeout(pending);
    pending = setTimeout(async () => {
      try {
        const d = await gql(`query($id: ID!) { performance(id: $id) { seatsAvailable ${viewerFields()} } }`, { id: p.id });
        if (d.performance) { viewer = d.performance; paintViewer(); }
      } catch { /* the next event tries again */ }
    }, 150);
  }
  qty.addEventListener('change', () => paintViewer());

  const panel = h('section', { class: 'booking-panel', 'aria-labelledby': 'book-h' },
    h('h2', { id: 'book-h', text: t('seatsAvailable') }),
    h('p', {}, counter, ` / ${p.capacity}`), viewerLine);
  if (p.status === 'CANCELLED') panel.append(notice(`${errorText({ code: 'BOOKING_CLOSED' })} ${p.cancellationReason || ''}`, 'info'));
  else if (!open) panel.append(notice(t('closedNote'), 'info'));
  else if (me && !isResident) panel.append(notice(t('staffOnly'), 'info'));
  else {
    if (!me) panel.append(h('p', {}, h('a', { href: '#/login', onclick: (e) => { e.preventDefault(); requireSignIn(); }, text: t('signInToBook') })));
    panel.append(h('div', { class: 'field' }, h('label', { for: 'quantity', text: t('quantity') }), qty),
      h('div', { class: 'row' }, bestButton, reserved ? pickedButton : null), message, waitBox);
  }
  if (!reserved) panel.append(h('p', { class: 'muted', text: t('generalAdmission') }));

  const body = [h('p', { class: 'tag', text: t(`cat_${p.category}`) }), h('h1', { text: p.title })];
  if (p.production && app.features.has('Mutation', 'followProduction') && (!me || isResident)) body.push(followButton(p.production));
  body.push(h('div', { class: 'perf-top' }, h('div', {}, facts(p), h('p', { text: p.description }), sharesBox(p)), panel));
  if (reserved) {
    map = seatMap(p.seatMap, (picked) => paintButtons(picked));
    body.push(h('section', { 'aria-labelledby': 'map-h' }, h('h2', { id: 'map-h', text: t('seatMap') }), legend(), map.element));
  }
  body.push(h('p', {}, h('a', { href: '#/', text: t('back') })));
  mount(main, ...body);
  paintButtons([]);
  paintViewer();

  const stop = subscribe(`subscription($id: ID!) { seatAvailability(performanceId: $id) {
    seatsAvailable changedSeats { state seat { id } } } }`, { id: p.id }, (d) => {
    const u = d.seatAvailability;
    viewer = { ...viewer, seatsAvailable: u.seatsAvailable };
    counter.textContent = String(u.seatsAvailable);
    if (map) {
      const lost = map.update(u.changedSeats);
      if (lost.length) mount(message, notice(t('seatsLost', { seats: lost.join('、') })));
    }
    refreshViewer();
  });
  const stopReconnect = onReconnect(() => app.navigate(location.hash));
  const onNotification = () => refreshViewer();
  window.addEventListener('zouqin:notification', onNotification);
  app.cleanup.push(stop, stopReconnect, () => window.removeEventListener('zouqin:notification', onNotification), () => clearTimeout(pending));
  announce('');
}
