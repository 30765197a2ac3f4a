// The index page's panels: the live /stream (server-sent events); the WebSocket panel —
// /ws/ticks shown as the ticks arrive, and an echo box on /ws/echo; and the upload form, sent
// with fetch so that its JSON answer shows under it (without script, the form posts and the
// browser shows the JSON).
const live = document.getElementById('live');
// Every URL relative to the page's <base>, which carries the root path behind a proxy.
const source = new EventSource('stream?n=100&interval_ms=100');
source.onmessage = (event) => { live.textContent = 'data: ' + event.data; };
source.onerror = () => source.close();

// WebSockets, on this page's own host and base (wss: when the page came over https:).
const wsBase = new URL('.', document.baseURI).href.replace(/^http/, 'ws').replace(/\/$/, '');

const wsTicks = document.getElementById('ws-ticks');
const ticks = new WebSocket(wsBase + '/ws/ticks?n=100&interval_ms=100');
let received = 0;
wsTicks.textContent = 'connecting...';
ticks.onmessage = (event) => {
  received += 1;
  wsTicks.textContent = 'tick ' + event.data + ' (' + received + ' received)';
};
ticks.onclose = (event) => {
  wsTicks.textContent += '\nclosed: ' + event.code + (event.reason ? ' ' + event.reason : '');
};

const echoForm = document.getElementById('echo');
const echoText = document.getElementById('echo-text');
const echoResult = document.getElementById('echo-result');
const echo = new WebSocket(wsBase + '/ws/echo');
const echoes = [];
echoResult.textContent = 'connecting...';
echo.onopen = () => { echoResult.textContent = 'connected: type and send'; };
echo.onmessage = (event) => {
  echoes.push('echo: ' + event.data);
  echoResult.textContent = echoes.slice(-4).join('\n');
};
echo.onclose = (event) => { echoResult.textContent += '\nclosed: ' + event.code; };
echoForm.addEventListener('submit', (event) => {
  event.preventDefault();
  if (echo.readyState === WebSocket.OPEN) {
    echo.send(echoText.value);
  }
});

const form = document.getElementById('upload');
const result = document.getElementById('upload-result');
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  result.textContent = 'uploading...';
  try {
    const response = await fetch(form.action, { method: 'POST', body: new FormData(form) });
    const answer = await response.json();
    result.textContent = response.status + ' ' + JSON.stringify(answer, null, 2);
  } catch (error) {
    result.textContent = 'failed: ' + error;
  }
});
