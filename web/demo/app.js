// The demo page's script: plain browser JavaScript (no framework, no build step).
'use strict';

const $ = (id) => document.getElementById(id);
const show = (id, value) => { $(id).textContent = typeof value === 'string' ? value : JSON.stringify(value, null, 2); };
const state = { token: null, owner: null };

function setStatus(id, text, isError) {
  $(id).textContent = text;
  $(id).className = isError ? 'status error' : 'status';
}

async function jsonFetch(url, options) {
  const response = await fetch(url, options);
  const text = await response.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: response.status, body };
}

async function loadConfig() {
  const { body } = await jsonFetch('/dev/config');
  const select = $('job');
  for (const job of body.jobs || []) {
    const option = document.createElement('option');
    option.value = job;
    option.textContent = job;
    if (job === 'usage-quota') option.selected = true;
    select.append(option);
  }
}

async function signIn(event) {
  event.preventDefault();
  const name = $('name').value.trim();
  const { status, body } = await jsonFetch('/dev/token', {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }),
  });
  if (status !== 200) return setStatus('who', `Sign-in failed: ${body.error ? body.error.message : status}`, true);
  state.token = body.token;
  state.owner = body.owner;
  setStatus('who', `Signed in as ${body.owner} (development token until ${body.expiresAt}).`);
  $('upload').disabled = false;
  await showRecords();
}

/** POSTs the form straight to OSS with XMLHttpRequest, for the upload progress events. */
function postForm(url, fields, file) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) form.append(name, value);
    form.append('file', file); // the file goes last: OSS ignores fields after it
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) $('progress').value = Math.round((e.loaded / e.total) * 100); };
    xhr.upload.onload = () => { $('progress').value = 100; }; // the whole body is sent
    xhr.onload = () => resolve({ status: xhr.status, text: xhr.responseText });
    xhr.onerror = () => reject(new Error(`the upload to ${url} failed (network or CORS: does the bucket have a CORS rule for this origin?)`));
    xhr.send(form);
  });
}

/** `<Error><Code>…</Code><Message>…</Message></Error>` → {code, message}, or null. */
function ossError(text) {
  const xml = new DOMParser().parseFromString(text, 'application/xml');
  const code = xml.querySelector('Error > Code');
  return code ? { code: code.textContent, message: (xml.querySelector('Error > Message') || {}).textContent || '' } : null;
}

async function upload(event) {
  event.preventDefault();
  const file = $('file').files[0];
  if (!file || !state.token) return;
  $('progress').value = 0;
  show('callback-reply', '');
  const request = { job: $('job').value, filename: file.name, contentType: file.type || 'application/octet-stream', size: file.size };
  show('policy-request', request);
  setStatus('upload-status', 'Asking for a policy…');
  const policy = await jsonFetch('/upload-policy', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${state.token}` },
    body: JSON.stringify(request),
  });
  show('policy-reply', policy.body);
  if (policy.status !== 200) return setStatus('upload-status', `No policy: ${policy.body.error ? `${policy.body.error.code}: ${policy.body.error.message}` : policy.status}`, true);
  setStatus('upload-status', `Uploading to ${policy.body.url} as ${policy.body.key}…`);
  try {
    const result = await postForm(policy.body.url, policy.body.fields, file);
    let reply;
    try { reply = JSON.parse(result.text); } catch { reply = result.text; }
    const ok = result.status === 200;
    if (ok || result.status === 203) {
      show('callback-reply', reply);
      setStatus('upload-status', ok ? `Uploaded: HTTP ${result.status}, the callback answered.` : `Upload answered HTTP ${result.status} (stored, but the callback failed).`, !ok);
    } else {
      // OSS refused the upload itself: its error XML names the reason (FileAlreadyExists, EntityTooLarge, AccessDenied, …).
      const error = ossError(result.text);
      setStatus('upload-status', `OSS refused the upload: HTTP ${result.status}${error ? ` ${error.code}: ${error.message}` : ''}`, true);
    }
  } catch (error) {
    setStatus('upload-status', error.message, true);
  }
  await showRecords();
}

async function showRecords() {
  const { status, body } = await jsonFetch(`/dev/records?owner=${encodeURIComponent(state.owner)}`);
  if (status !== 200) return show('records', body);
  const usage = body.usage;
  setStatus('usage', usage ? `${body.owner} stores ${usage.usedBytes} bytes in ${usage.objectCount} object(s)${usage.quotaBytes != null ? ` of ${usage.quotaBytes}` : ''}.` : `${body.owner} has no usage yet.`);
  show('records', { quotaUploads: body.quotaUploads, images: body.images, records: body.records });
}

$('signin-form').addEventListener('submit', (e) => { signIn(e).catch((error) => setStatus('who', error.message, true)); });
$('upload-form').addEventListener('submit', (e) => { upload(e).catch((error) => setStatus('upload-status', error.message, true)); });
loadConfig().catch((error) => setStatus('who', `Could not load /dev/config: ${error.message}`, true));
