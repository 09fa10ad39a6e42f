// The live seat map: an SVG of every seat (AVAILABLE / TAKEN / HELD, accessible seats
// marked), picked with the mouse, a finger or the keyboard (arrows move, Space picks).

import { s, h } from './dom.js';
import { t } from './i18n.js';

const SIZE = 16;
const GAP = 5;
const STEP = SIZE + GAP;
const LABEL = 28;

/**
 * Draws `seatMap` ([{seat, state}]) and returns `{ element, update(changed), selected(), clear() }`.
 * `onChange(selectedIds)` runs whenever the selection changes.
 */
export function seatMap(entries, onChange) {
  const sections = [];
  const bySection = new Map();
  for (const entry of entries) {
    const { section, row } = entry.seat;
    if (!bySection.has(section)) {
      const rec = { name: section, rows: new Map() };
      bySection.set(section, rec);
      sections.push(rec);
    }
    const rows = bySection.get(section).rows;
    if (!rows.has(row)) rows.set(row, []);
    rows.get(row).push(entry);
  }
  let widest = 0;
  for (const sec of sections) for (const seats of sec.rows.values()) widest = Math.max(widest, seats.length);
  const width = LABEL * 2 + widest * STEP;

  const svg = s('svg', { class: 'seatmap', role: 'group', 'aria-label': t('seatMap'), 'aria-describedby': 'seat-help' });
  const seats = [];
  let y = 8;
  svg.append(s('rect', { class: 'stage', x: LABEL, y, width: width - LABEL * 2, height: 18, rx: 4 }));
  svg.append(s('text', { class: 'stage-label', x: width / 2, y: y + 13, 'text-anchor': 'middle', text: t('stage') }));
  y += 34;
  for (const sec of sections) {
    svg.append(s('text', { class: 'row-label', x: width / 2, y: y + 8, 'text-anchor': 'middle', text: sec.name }));
    y += 16;
    for (const [row, list] of sec.rows) {
      const x0 = LABEL + ((widest - list.length) * STEP) / 2;
      svg.append(s('text', { class: 'row-label', x: 4, y: y + 12, text: row }));
      list.forEach((entry, i) => {
        const x = x0 + i * STEP;
        const rect = s('rect', {
          class: 'seat', x, y, width: SIZE, height: SIZE, rx: 3,
          role: 'checkbox', tabindex: -1, 'aria-checked': 'false',
          'data-id': entry.seat.id, 'data-state': entry.state,
        });
        rect.dataset.cx = String(x);
        rect.dataset.cy = String(y);
        const g = s('g', {}, rect);
        if (entry.seat.accessible) {
          g.append(s('circle', { class: 'seat-access', cx: x + SIZE / 2, cy: y + SIZE / 2, r: SIZE / 2 - 4 }));
        }
        svg.append(g);
        seats.push({ rect, entry });
        label(rect, entry);
      });
      y += STEP;
    }
    y += 10;
  }
  svg.setAttribute('viewBox', `0 0 ${width} ${y}`);
  // Drawn half again as large as its units: seats a finger can hit; a wide hall scrolls.
  svg.setAttribute('width', String(Math.round(width * 1.5)));
  svg.setAttribute('height', String(Math.round(y * 1.5)));
  const byId = new Map(seats.map((x) => [x.entry.seat.id, x]));
  const selected = new Set();

  function label(rect, entry) {
    const state = t(`state_${entry.state}`);
    const access = entry.seat.accessible ? `，${t('accessible')}` : '';
    rect.setAttribute('aria-label', `${entry.seat.label}${access}：${state}`);
    rect.setAttribute('aria-disabled', entry.state === 'AVAILABLE' ? 'false' : 'true');
  }

  function toggle(item) {
    if (item.entry.state !== 'AVAILABLE') return;
    const id = item.entry.seat.id;
    if (selected.has(id)) selected.delete(id);
    else selected.add(id);
    item.rect.setAttribute('aria-checked', selected.has(id) ? 'true' : 'false');
    onChange([...selected]);
  }

  function focus(item) {
    seats.forEach((x) => x.rect.setAttribute('tabindex', '-1'));
    item.rect.setAttribute('tabindex', '0');
    item.rect.focus();
  }

  function nearestInRow(from, dir) {
    const cy = Number(from.rect.dataset.cy);
    const cx = Number(from.rect.dataset.cx);
    const rowYs = [...new Set(seats.map((x) => Number(x.rect.dataset.cy)))].sort((a, b) => a - b);
    const target = rowYs[rowYs.indexOf(cy) + dir];
    if (target === undefined) return from;
    let best = from;
    let bestDx = Infinity;
    for (const x of seats) {
      if (Number(x.rect.dataset.cy) !== target) continue;
      const dx = Math.abs(Number(x.rect.dataset.cx) - cx);
      if (dx < bestDx) { best = x; bestDx = dx; }
    }
    return best;
  }

  svg.addEventListener('click', (event) => {
    const item = byId.get(event.target.dataset && event.target.dataset.id);
    if (item) { focus(item); toggle(item); }
  });
  svg.addEventListener('keydown', (event) => {
    const item = byId.get(event.target.dataset && event.target.dataset.id);
    if (!item) return;
    const i = seats.indexOf(item);
    let next = null;
    if (event.key === 'ArrowRight') next = seats[Math.min(seats.length - 1, i + 1)];
    else if (event.key === 'ArrowLeft') next = seats[Math.max(0, i - 1)];
    else if (event.key === 'ArrowDown') next = nearestInRow(item, 1);
    else if (event.key === 'ArrowUp') next = nearestInRow(item, -1);
    else if (event.key === ' ' || event.key === 'Enter') { event.preventDefault(); toggle(item); return; }
    if (next) { event.preventDefault(); focus(next); }
  });
  const first = seats.find((x) => x.entry.state === 'AVAILABLE') || seats[0];
  if (first) first.rect.setAttribute('tabindex', '0');

  const element = h('div', { class: 'seatmap-wrap' },
    h('p', { id: 'seat-help', class: 'muted', text: t('seatHelp') }), svg);

  return {
    element,
    /** Applies changed seats ([{seat: {id}, state}]); returns the ids of picked seats lost. */
    update(changed) {
      const lost = [];
      for (const c of changed) {
        const item = byId.get(c.seat.id);
        if (!item) continue;
        item.entry.state = c.state;
        item.rect.setAttribute('data-state', c.state);
        label(item.rect, item.entry);
        if (c.state !== 'AVAILABLE' && selected.has(c.seat.id)) {
          selected.delete(c.seat.id);
          item.rect.setAttribute('aria-checked', 'false');
          lost.push(item.entry.seat.label);
        }
      }
      if (lost.length) onChange([...selected]);
      return lost;
    },
    selected: () => [...selected],
    clear() {
      selected.clear();
      seats.forEach((x) => x.rect.setAttribute('aria-checked', 'false'));
      onChange([]);
    },
  };
}

/** The key to the map's colours. */
export function legend() {
  const swatch = (cls, state) => s('svg', { width: 18, height: 18, 'aria-hidden': 'true' },
    s('rect', { class: cls, x: 1, y: 1, width: 16, height: 16, rx: 3, 'data-state': state }));
  const chosen = s('svg', { width: 18, height: 18, 'aria-hidden': 'true' },
    s('rect', { class: 'seat', x: 1, y: 1, width: 16, height: 16, rx: 3, 'aria-checked': 'true' }));
  const access = s('svg', { width: 18, height: 18, 'aria-hidden': 'true' },
    s('rect', { class: 'seat', x: 1, y: 1, width: 16, height: 16, rx: 3 }),
    s('circle', { class: 'seat-access', cx: 9, cy: 9, r: 4 }));
  return h('ul', { class: 'legend' },
    h('li', {}, swatch('seat', 'AVAILABLE'), t('state_AVAILABLE')),
    h('li', {}, swatch('seat', 'TAKEN'), t('state_TAKEN')),
    h('li', {}, swatch('seat', 'HELD'), t('state_HELD')),
    h('li', {}, chosen, t('yourPick')),
    h('li', {}, access, t('accessible')));
}
