// /verify: sends the chosen certificate PDF to the public verification API and shows the
// answer. A file of its own because the Content-Security-Policy allows no inline script.
document.getElementById('check').addEventListener('click', async () => {
  const f = document.getElementById('pdf').files[0];
  const out = document.getElementById('result');
  if (!f) { out.textContent = 'ファイルを選んでください。'; return; }
  const r = await fetch('/api/v1/public/verify-certificate', {method: 'POST', headers: {'content-type': 'application/pdf'}, body: f});
  const v = await r.json();
  out.className = v.genuine ? '' : 'error';
  out.textContent = v.genuine
    ? `真正な証明書です(団体コード ${v.tenant}、発行番号 ${v.issue_number}、発行日 ${v.issue_date})。`
    : `確認できません: ${v.message}`;
});
