// The staff pages (`/staff`): sign-in, the exchange report of a year as charts and a table,
// and its CSV download.

import { h, s, mount, field, notice } from './dom.js';
import { t, addStrings, setLang, currentLang, errorText, ZONE } from './i18n.js';
import { gql, session, login, logout, useSessionKey, features, download } from './api.js';

useSessionKey('staff');
addStrings({
  'zh-CN': {
    title: '工作人员', signIn: '登录', signOut: '退出', email: '邮箱', password: '密码', year: '年份', show: '查看',
    report: '{year} 年文化走亲交流报表', csv: '下载 CSV', notYet: '这个服务器还没有交流报表功能。', empty: '{year} 年没有交流场次。',
    sessionsChart: '各季度、各交流方向的场次', attendanceChart: '各季度、各交流方向的到场人次', homeChart: '按居民所属馆统计的到场人次',
    quarter: '季度', pair: '交流方向', scheduled: '场次', held: '已演', cancelledS: '取消', seats: '座位', tickets: '售票',
    attendances: '到场', noShows: '未到场', total: '合计', staffOnly: '请用工作人员账号登录。', wrongLogin: '邮箱或密码不对。',
    language: 'English', center: '馆',
  },
  en: {
    title: 'Staff', signIn: 'Sign in', signOut: 'Sign out', email: 'Email', password: 'Password', year: 'Year', show: 'Show',
    report: 'Cultural exchange report {year}', csv: 'Download CSV', notYet: 'This server has no exchange report yet.', empty: 'No exchange sessions in {year}.',
    sessionsChart: 'Sessions per quarter and pair', attendanceChart: 'Attendances per quarter and pair', homeChart: 'Attendances by home center',
    quarter: 'Quarter', pair: 'Pair', scheduled: 'Sessions', held: 'Held', cancelledS: 'Cancelled', seats: 'Seats', tickets: 'Tickets',
    attendances: 'Attendances', noShows: 'No-shows', total: 'Total', staffOnly: 'Please sign in with a staff account.', wrongLogin: 'That email and password do not match.',
    language: '中文', center: 'Center',
  },
});

const main = document.getElementById('main');
const top = document.getElementById('top');

function thisYear() {
  return Number(new Intl.DateTimeFormat('en', { timeZone: ZONE, year: 'numeric' }).format(new Date()));
}

function renderTop() {
  const me = session();
  mount(top, h('span', { class: 'brand', text: `走亲 · ${t('title')}` }),
    me ? h('span', { text: `${me.account.displayName}${me.account.center ? ` · ${me.account.center.name}` : ''}` }) : null,
    me ? h('button', { class: 'link', id: 'sign-out', onclick: async () => { await logout(); render(); }, text: t('signOut') }) : null,
    h('button', { class: 'link', id: 'lang', onclick: () => { setLang(currentLang() === 'en' ? 'zh-CN' : 'en'); render(); }, text: t('language') }));
}

function signIn() {
  const email = h('input', { type: 'email', id: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', id: 'password', autocomplete: 'current-password', required: true });
  const message = h('div');
  mount(main, h('h1', { text: t('signIn') }), h('form', { onsubmit: async (e) => {
    e.preventDefault();
    try {
      const payload = await login(email.value.trim(), password.value);
      if (payload.account.role === 'RESIDENT') {
        await logout();
        mount(message, notice(t('staffOnly')));
        return;
      }
      render();
    } catch (err) {
      mount(message, notice(errorText(err, { UNAUTHENTICATED: 'wrongLogin' })));
    }
  } }, field(t('email'), email), field(t('password'), password), message, h('button', { type: 'submit', id: 'sign-in', text: t('signIn') })));
  email.focus();
}

/** A horizontal bar chart: `items` of {label, a, b?} with one or two series. */
function barChart(id, title, items, series) {
  const rowH = series.length * 16 + 12;
  const labelW = 150;
  const width = 560;
  const max = Math.max(1, ...items.flatMap((i) => series.map((k) => i[k.key])));
  const height = items.length * rowH + 30;
  const svg = s('svg', { class: 'chart', id, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': `${id}-t` },
    s('title', { id: `${id}-t`, text: title }));
  items.forEach((item, i) => {
    const y = i * rowH + 6;
    svg.append(s('text', { x: 0, y: y + 13, text: item.label }));
    series.forEach((k, j) => {
      const value = item[k.key];
      const w = ((width - labelW - 50) * value) / max;
      svg.append(s('rect', { class: k.cls, x: labelW, y: y + j * 16, width: Math.max(1, w), height: 13, 'data-value': value, 'data-series': k.key }));
      svg.append(s('text', { x: labelW + w + 4, y: y + j * 16 + 11, text: String(value) }));
    });
  });
  const legendY = height - 10;
  series.forEach((k, j) => {
    svg.append(s('rect', { class: k.cls, x: labelW + j * 120, y: legendY - 10, width: 12, height: 12 }));
    svg.append(s('text', { x: labelW + j * 120 + 16, y: legendY, text: k.name }));
  });
  return h('figure', {}, h('figcaption', { text: title }), svg);
}

function pairName(row) {
  return `Q${row.season.quarter} ${row.providerCenter.name.replace(/文化馆$/, '')}→${row.hostCenter.name.replace(/文化馆$/, '')}`;
}

function reportTable(rows) {
  const cols = ['sessionsScheduled', 'sessionsHeld', 'sessionsCancelled', 'seatsOffered', 'ticketsSold', 'attendances', 'noShows'];
  const heads = ['scheduled', 'held', 'cancelledS', 'seats', 'tickets', 'attendances', 'noShows'];
  const sum = (k) => rows.reduce((n, r) => n + r[k], 0);
  return h('div', { class: 'table-wrap' }, h('table', { id: 'report-table' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: t('quarter') }), h('th', { scope: 'col', text: t('pair') }),
      heads.map((k) => h('th', { scope: 'col', class: 'num', text: t(k) })))),
    h('tbody', {}, rows.map((r) => h('tr', {}, h('td', { text: `${r.season.year} Q${r.season.quarter}` }),
      h('td', { text: `${r.providerCenter.name} → ${r.hostCenter.name}` }), cols.map((k) => h('td', { class: 'num', text: String(r[k]) }))))),
    h('tfoot', {}, h('tr', {}, h('th', { scope: 'row', colspan: 2, text: t('total') }),
      cols.map((k) => h('td', { class: 'num', 'data-total': k, text: String(sum(k)) }))))));
}

async function report(year, out) {
  const f = await features();
  if (!f.has('Query', 'exchangeReport')) {
    mount(out, notice(t('notYet'), 'info'));
    return;
  }
  let rows;
  try {
    const d = await gql(`query($y: Int!) { exchangeReport(year: $y) { season { year quarter } providerCenter { id name }
      hostCenter { id name } sessionsScheduled sessionsHeld sessionsCancelled seatsOffered ticketsSold attendances noShows
      byHomeCenter { center { id name } tickets attendances } } }`, { y: year });
    rows = d.exchangeReport;
  } catch (e) {
    mount(out, notice(e.code === 'GRAPHQL_VALIDATION_FAILED' ? t('notYet') : errorText(e), e.code === 'GRAPHQL_VALIDATION_FAILED' ? 'info' : 'error'));
    return;
  }
  const csv = h('button', { type: 'button', id: 'csv', class: 'secondary', text: t('csv') });
  const message = h('div');
  csv.addEventListener('click', async () => {
    try {
      const blob = await download(`/reports/exchange.csv?year=${year}`);
      const url = URL.createObjectURL(blob);
      const a = h('a', { href: url, download: `exchange-${year}.csv`, class: 'hidden', text: 'csv' });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      mount(message, notice(errorText(e)));
    }
  });
  if (!rows.length) {
    mount(out, h('h2', { text: t('report', { year }) }), notice(t('empty', { year }), 'info'));
    return;
  }
  const byHome = new Map();
  for (const r of rows) {
    for (const c of r.byHomeCenter) {
      const cur = byHome.get(c.center.id) || { label: c.center.name, attendances: 0, tickets: 0 };
      cur.attendances += c.attendances;
      cur.tickets += c.tickets;
      byHome.set(c.center.id, cur);
    }
  }
  const pairs = rows.map((r) => ({ label: pairName(r), sessions: r.sessionsScheduled, held: r.sessionsHeld, attendances: r.attendances, tickets: r.ticketsSold }));
  mount(out, h('div', { class: 'row' }, h('h2', { text: t('report', { year }) }), csv), message,
    barChart('chart-sessions', t('sessionsChart'), pairs, [{ key: 'sessions', name: t('scheduled'), cls: 'bar-a' }, { key: 'held', name: t('held'), cls: 'bar-b' }]),
    barChart('chart-attendances', t('attendanceChart'), pairs, [{ key: 'tickets', name: t('tickets'), cls: 'bar-b' }, { key: 'attendances', name: t('attendances'), cls: 'bar-a' }]),
    barChart('chart-home', t('homeChart'), [...byHome.values()], [{ key: 'tickets', name: t('tickets'), cls: 'bar-b' }, { key: 'attendances', name: t('attendances'), cls: 'bar-a' }]),
    reportTable(rows));
}

function reportPage() {
  const year = Number(new URLSearchParams(location.search).get('year')) || thisYear();
  const select = h('select', { id: 'year' }, Array.from({ length: thisYear() + 2 - 2017 }, (_, i) => thisYear() + 1 - i)
    .map((y) => h('option', { value: y, selected: y === year, text: String(y) })));
  const out = h('div', { id: 'report' });
  mount(main, h('h1', { text: t('title') }), h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); report(Number(select.value), out); } },
    field(t('year'), select), h('div', { class: 'field' }, h('button', { type: 'submit', id: 'show', text: t('show') }))), out);
  report(year, out);
}

function render() {
  renderTop();
  if (session()) reportPage();
  else signIn();
}

render();
