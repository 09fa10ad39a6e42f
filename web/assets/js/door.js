// The door (`/door`): an usher signs in, scans a ticket's QR code with the phone camera
// (where the browser has BarcodeDetector) or types its code, and sees a full-screen answer.

import { h, mount, field, notice } from './dom.js';
import { t, addStrings, setLang, currentLang, errorText, timeOfDay, when } from './i18n.js';
import { gql, session, login, logout, useSessionKey } from './api.js';

useSessionKey('door');
addStrings({
  'zh-CN': {
    title: '检票', signIn: '登录', signOut: '退出', email: '邮箱', password: '密码', code: '票码',
    codeHint: '扫描二维码，或输入票上的码', check: '检票', scan: '用相机扫码', stopScan: '停止扫码',
    admitted: '请入场', refused: '不能入场', already: '已经入场过了', firstScan: '第一次检票：{time}',
    notFound: '本馆没有这张票（码不对，或不是本馆的演出）。', next: '下一张', staffOnly: '请用工作人员账号登录。',
    wrongLogin: '邮箱或密码不对。', cameraFailed: '打不开相机，请输入票码。', language: 'English', noSeat: '不对号入座',
    conflict: '这张票已取消，或现在不在检票时间内。',
  },
  en: {
    title: 'Door', signIn: 'Sign in', signOut: 'Sign out', email: 'Email', password: 'Password', code: 'Ticket code',
    codeHint: 'Scan the QR code, or type the code on the ticket', check: 'Check in', scan: 'Scan with the camera', stopScan: 'Stop scanning',
    admitted: 'Admitted', refused: 'Not admitted', already: 'Already admitted', firstScan: 'First scanned at {time}',
    notFound: 'No such ticket here (wrong code, or another center’s performance).', next: 'Next ticket', staffOnly: 'Please sign in with a staff account.',
    wrongLogin: 'That email and password do not match.', cameraFailed: 'The camera cannot be opened: please type the code.', language: '中文', noSeat: 'Unreserved seating',
    conflict: 'This ticket was cancelled, or the door is not open for its performance now.',
  },
});

const main = document.getElementById('main');
const top = document.getElementById('top');
let stream = null;

function stopCamera() {
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
}

function renderTop() {
  const me = session();
  mount(top, h('span', { class: 'brand', text: `走亲 · ${t('title')}` }),
    me ? h('button', { class: 'link', id: 'sign-out', onclick: async () => { stopCamera(); await logout(); render(); }, text: t('signOut') }) : null,
    h('button', { class: 'link', id: 'lang', onclick: () => { setLang(currentLang() === 'en' ? 'zh-CN' : 'en'); render(); }, text: t('language') }));
}

function signIn() {
  const email = h('input', { type: 'email', id: 'email', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', id: 'password', autocomplete: 'current-password', required: true });
  const message = h('div');
  mount(main, h('h1', { text: t('signIn') }), h('form', { class: 'door-form', onsubmit: async (e) => {
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

function verdict(kind, headline, lines) {
  const next = h('button', { type: 'button', class: 'next', id: 'next', text: t('next') });
  const box = h('div', { class: `verdict ${kind}`, id: 'verdict', role: 'alertdialog', 'aria-modal': 'true', 'aria-labelledby': 'verdict-h', 'data-verdict': kind },
    h('div', { class: 'mark', 'aria-hidden': 'true', text: kind === 'ok' ? '✓' : '✗' }),
    h('p', { class: 'headline', id: 'verdict-h', text: headline }),
    lines.filter(Boolean).map((line) => h('p', { class: line.cls || '', text: line.text })),
    next);
  const close = () => { box.remove(); const input = document.getElementById('code'); if (input) { input.value = ''; input.focus(); } };
  next.addEventListener('click', close);
  box.addEventListener('keydown', (e) => { if (e.key === 'Escape') close(); });
  document.body.append(box);
  next.focus();
}

async function checkIn(raw) {
  const code = raw.trim();
  if (!code) return;
  try {
    const d = await gql(`mutation($c: String!) { checkInTicket(code: $c) { code status checkedInAt seat { label } performance { title startsAt } } }`, { c: code });
    const ticket = d.checkInTicket;
    verdict('ok', t('admitted'), [
      { text: ticket.seat ? ticket.seat.label : t('noSeat'), cls: 'seat-label' },
      { text: `${ticket.performance.title} · ${when(ticket.performance.startsAt)}` },
      { text: ticket.code, cls: 'code' }]);
  } catch (err) {
    if (err.code === 'ALREADY_CHECKED_IN') {
      const at = err.extensions.checkedInAt;
      let seat = null;
      try {
        const d = await gql('query($c: String!) { ticket(code: $c) { seat { label } } }', { c: code });
        seat = d.ticket && d.ticket.seat ? d.ticket.seat.label : null;
      } catch { /* the verdict stands without the seat */ }
      verdict('bad', t('already'), [
        seat ? { text: seat, cls: 'seat-label' } : null,
        { text: t('firstScan', { time: timeOfDay(at) }), cls: 'first-scan' },
        { text: errorText(err) }]);
    } else if (err.code === 'NOT_FOUND') {
      verdict('bad', t('refused'), [{ text: t('notFound') }]);
    } else if (err.code === 'UNAUTHENTICATED') {
      render();
    } else {
      verdict('bad', t('refused'), [{ text: errorText(err, { CONFLICT: 'conflict' }) }]);
    }
  }
}

async function scan(video, button) {
  if (stream) { stopCamera(); video.classList.add('hidden'); button.textContent = t('scan'); return; }
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false });
  } catch {
    mount(document.getElementById('door-message'), notice(t('cameraFailed')));
    return;
  }
  video.srcObject = stream;
  video.classList.remove('hidden');
  await video.play().catch(() => {});
  button.textContent = t('stopScan');
  const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
  const look = async () => {
    if (!stream) return;
    try {
      const found = await detector.detect(video);
      if (found.length) {
        stopCamera();
        video.classList.add('hidden');
        button.textContent = t('scan');
        await checkIn(found[0].rawValue);
        return;
      }
    } catch { /* a frame that cannot be read; try the next */ }
    setTimeout(look, 200);
  };
  look();
}

function scanner() {
  const me = session();
  const input = h('input', { id: 'code', name: 'code', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', enterkeyhint: 'go' });
  const video = h('video', { class: 'door-video hidden', playsinline: true, muted: true, 'aria-label': t('scan') });
  const canScan = 'BarcodeDetector' in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia;
  const scanButton = canScan ? h('button', { type: 'button', class: 'door-big secondary', id: 'scan', text: t('scan') }) : null;
  if (scanButton) scanButton.addEventListener('click', () => scan(video, scanButton));
  mount(main, h('h1', { text: `${t('title')} · ${me.account.center ? me.account.center.name : ''}` }),
    video, scanButton,
    h('form', { class: 'door-form thumb', onsubmit: (e) => { e.preventDefault(); checkIn(input.value); } },
      field(t('code'), input, t('codeHint')), h('div', { id: 'door-message' }), h('button', { type: 'submit', id: 'check', text: t('check') })));
  input.focus();
}

function render() {
  renderTop();
  if (session()) scanner();
  else signIn();
}

render();
