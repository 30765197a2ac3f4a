// The index page's two panels: the live /stream (server-sent events) and the upload form,
// sent with fetch so that its JSON answer shows under it (without script, the form posts
// and the browser shows the JSON).
const live = document.getElementById('live');
const source = new EventSource('/stream?n=100&interval_ms=100');
source.onmessage = (event) => { live.textContent = 'data: ' + event.data; };
source.onerror = () => source.close();

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
