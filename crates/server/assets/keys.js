// Staff screens. The arrow keys move through a result list — from the search field down into
// the list, then row to row (Enter opens the row), and up from the first row back to the
// field. A file of its own because the Content-Security-Policy allows no inline script.
document.addEventListener('keydown', (e) => {
  if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
  if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
  const links = Array.from(document.querySelectorAll('table.results tbody tr'))
    .map((row) => row.querySelector('a'))
    .filter(Boolean);
  if (links.length === 0) return;
  const active = document.activeElement;
  const at = links.indexOf(active);
  const inField = active && active.matches('form input:not([type]), form input[type=text], form input[type=search]');
  if (at < 0 && !(inField && e.key === 'ArrowDown')) return;
  e.preventDefault();
  const next = at < 0 ? 0 : at + (e.key === 'ArrowDown' ? 1 : -1);
  if (next < 0) {
    const field = document.querySelector('main form input:not([type=hidden])');
    if (field) field.focus();
    return;
  }
  const target = links[Math.min(next, links.length - 1)];
  target.focus();
  target.closest('tr').scrollIntoView({block: 'nearest'});
});

// A refused form: the input the server named is marked and gets the cursor, so the clerk
// corrects it without looking for it (what was typed is kept by the server).
const refused = document.querySelector('#form-error[data-field]');
if (refused) {
  const name = refused.dataset.field;
  const input = Array.from(document.querySelectorAll('main [name]')).find((el) => el.name === name && el.type !== 'hidden');
  if (input) {
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', 'form-error');
    input.focus();
  }
}
