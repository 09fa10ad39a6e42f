// Chinese (zh-CN) first, English on request; times always in Asia/Shanghai.

const KEY = 'zouqin.lang';
export const ZONE = 'Asia/Shanghai';

/** Every error code of the API as a sentence a resident understands. */
export const ERRORS = {
  'zh-CN': {
    GRAPHQL_PARSE_FAILED: '页面发出的请求有误，请刷新页面后再试。',
    GRAPHQL_VALIDATION_FAILED: '这个页面和服务器的版本对不上，请刷新页面。',
    QUERY_TOO_COMPLEX: '这次要查的内容太多了，请缩小范围再试。',
    UNAUTHENTICATED: '您还没有登录，或者登录已过期，请重新登录。',
    FORBIDDEN: '您的账号不能做这件事。',
    NOT_FOUND: '找不到这一项：它可能已被取消，或不对您开放。',
    BAD_USER_INPUT: '填写的内容有误，请检查“{field}”。',
    CONFLICT: '现在不能这样做：当前的状态不允许（例如已经办过，或时间不对）。',
    SEAT_UNAVAILABLE: '您选的座位刚刚被别人订走了，请换几个座位。',
    SOLD_OUT: '剩下的座位不够了。',
    SOLD_OUT_SHARES: '剩下的座位不够了；为其他馆居民预留的座位将于 {time} 开放。',
    LIMIT_EXCEEDED: '超过了每人可订的张数。',
    QUOTA_EXCEEDED: '本季度的交流场次名额已经用完了。',
    BOOKING_CLOSED: '这场演出现在不能订票或退票（还没开放、已取消或已截止）。',
    ALREADY_CHECKED_IN: '这张票已经在 {time} 检过票了。',
    RATE_LIMITED: '尝试次数太多了，请 {seconds} 秒后再试。',
    BOOKING_SUSPENDED: '因为多次订票后没有到场，您在 {until} 之前不能订票或候补。',
    OFFER_EXPIRED: '为您保留的候补座位已经失效（过期或已放弃）。',
    UNAVAILABLE: '服务器暂时忙不过来，请 {seconds} 秒后再试。',
    INTERNAL: '服务器出了点问题，请稍后再试。',
    NETWORK: '连不上服务器，请检查网络后再试。',
  },
  en: {
    GRAPHQL_PARSE_FAILED: 'The page sent a garbled request. Please reload the page and try again.',
    GRAPHQL_VALIDATION_FAILED: 'This page does not match the server any more. Please reload it.',
    QUERY_TOO_COMPLEX: 'That asks for too much at once. Please narrow it down and try again.',
    UNAUTHENTICATED: 'You are not signed in, or your sign-in has expired. Please sign in again.',
    FORBIDDEN: 'Your account may not do this.',
    NOT_FOUND: 'We cannot find this: it may have been cancelled, or it is not open to you.',
    BAD_USER_INPUT: 'Something you entered is not right: please check “{field}”.',
    CONFLICT: 'This cannot be done right now: its current state does not allow it (already done, or not the right time).',
    SEAT_UNAVAILABLE: 'Someone has just booked a seat you picked. Please choose other seats.',
    SOLD_OUT: 'There are not enough seats left.',
    SOLD_OUT_SHARES: 'There are not enough seats left; seats kept for other centers’ residents open at {time}.',
    LIMIT_EXCEEDED: 'That is more tickets than one resident may hold.',
    QUOTA_EXCEEDED: 'This quarter’s exchange allocation has no sessions left.',
    BOOKING_CLOSED: 'This performance cannot be booked or cancelled now (not open yet, cancelled, or closed).',
    ALREADY_CHECKED_IN: 'This ticket was already admitted at {time}.',
    RATE_LIMITED: 'Too many attempts. Please try again in {seconds} seconds.',
    BOOKING_SUSPENDED: 'After repeated no-shows you cannot book or join a waiting list until {until}.',
    OFFER_EXPIRED: 'The seats offered to you from the waiting list are no longer held (expired or declined).',
    UNAVAILABLE: 'The service is busy for a moment. Please try again in {seconds} seconds.',
    INTERNAL: 'Something went wrong on our side. Please try again later.',
    NETWORK: 'Cannot reach the server. Please check your connection and try again.',
  },
};

let lang = localStorage.getItem(KEY) === 'en' ? 'en' : 'zh-CN';
document.documentElement.lang = lang;

/** The current language, `zh-CN` or `en`. */
export function currentLang() {
  return lang;
}

/** Switches the language (the caller re-renders). */
export function setLang(next) {
  lang = next === 'en' ? 'en' : 'zh-CN';
  localStorage.setItem(KEY, lang);
  document.documentElement.lang = lang;
}

let tables = { 'zh-CN': {}, en: {} };
/** Adds a page's strings: `{ 'zh-CN': {...}, en: {...} }`. */
export function addStrings(more) {
  for (const l of ['zh-CN', 'en']) tables[l] = { ...tables[l], ...more[l] };
}

function fillIn(text, vars) {
  return text.replace(/\{(\w+)\}/g, (_, k) => (vars && vars[k] !== undefined ? vars[k] : ''));
}

/** The string `key` in the current language. */
export function t(key, vars) {
  const text = tables[lang][key] ?? tables['zh-CN'][key] ?? key;
  return fillIn(text, vars);
}

/** A date and time in Asia/Shanghai, in the current language. */
export function when(iso, opts = { dateStyle: 'medium', timeStyle: 'short' }) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(lang, { timeZone: ZONE, ...opts }).format(new Date(iso));
}

/** Just the time of day (for the door). */
export function timeOfDay(iso) {
  return when(iso, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

/** A price in yuan. */
export function price(cents) {
  if (!cents) return lang === 'en' ? 'Free' : '免费';
  return new Intl.NumberFormat(lang, { style: 'currency', currency: 'CNY' }).format(cents / 100);
}

/** The sentence for an API error (see `ApiError`), with its extensions filled in. */
export function errorText(err, overrides = {}) {
  const code = err && err.code ? err.code : 'INTERNAL';
  const ext = (err && err.extensions) || {};
  if (overrides[code]) return t(overrides[code]);
  const table = ERRORS[lang];
  let key = code;
  if (code === 'SOLD_OUT' && ext.sharesReleaseAt) key = 'SOLD_OUT_SHARES';
  const text = table[key] ?? table.INTERNAL;
  return fillIn(text, {
    field: ext.field ?? '',
    time: when(ext.checkedInAt ?? ext.sharesReleaseAt),
    until: when(ext.until),
    seconds: ext.retryAfterSeconds ?? 30,
  });
}
