// /verify: checks a certificate by its QR code (typed, pasted, or opened as the link
// `/verify#MKC2|…` that the QR code holds) or by its PDF, through the public verification API,
// and shows the answer. A file of its own because the Content-Security-Policy allows no inline
// script. Text only (textContent): nothing from the answer is parsed as HTML.
const out = document.getElementById('result');

function show(v) {
  out.replaceChildren();
  out.className = v.genuine ? 'ok-box' : 'error-box';
  const head = document.createElement('p');
  head.textContent = v.message;
  out.append(head);
  if (v.tenant_name || v.issue_number) {
    const dl = document.createElement('dl');
    for (const [label, value] of [
      ['発行団体', v.tenant_name && `${v.tenant_name}(団体コード ${v.tenant})`],
      ['証明書', v.title],
      ['発行番号', v.issue_number],
      ['発行日', v.issue_date_wareki],
    ]) {
      if (!value) continue;
      const dt = document.createElement('dt');
      dt.textContent = label;
      const dd = document.createElement('dd');
      dd.textContent = value;
      dl.append(dt, dd);
    }
    out.append(dl);
  }
}

async function ask(url, init) {
  out.className = '';
  out.textContent = '確認しています…';
  try {
    const r = await fetch(url, init);
    const v = await r.json();
    if (v.error) {
      show({genuine: false, message: v.error.message});
    } else {
      show(v);
    }
  } catch (e) {
    show({genuine: false, message: '確認できませんでした(通信エラー)。時間をおいてもう一度お試しください。'});
  }
}

function checkCode(code) {
  if (!code.trim()) { show({genuine: false, message: 'QRコードの内容を入力してください。'}); return; }
  ask('/api/v1/public/verify-code', {
    method: 'POST',
    headers: {'content-type': 'application/json'},
    body: JSON.stringify({code}),
  });
}

document.getElementById('check-code').addEventListener('click', () => {
  checkCode(document.getElementById('code').value);
});

document.getElementById('check').addEventListener('click', () => {
  const f = document.getElementById('pdf').files[0];
  if (!f) { show({genuine: false, message: 'ファイルを選んでください。'}); return; }
  ask('/api/v1/public/verify-certificate', {method: 'POST', headers: {'content-type': 'application/pdf'}, body: f});
});

// Opened from a QR code: the payload is the fragment (never sent to the server by the browser
// as part of the URL; it is posted to the API like a typed code).
if (location.hash.length > 1) {
  const code = decodeURIComponent(location.hash.slice(1));
  document.getElementById('code').value = code;
  checkCode(code);
  out.focus();
} else {
  document.getElementById('code').focus();
}
