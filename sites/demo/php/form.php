<?php
// /php/form: $_POST as PHP users expect.
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $name = htmlspecialchars($_POST['name'] ?? '');
    $colour = htmlspecialchars($_POST['colour'] ?? '');
    echo "<!doctype html><title>Thanks</title><p>Thanks, $name. You like $colour.</p><p><a href=/php/form>again</a></p>\n";
    return;
}
?>
<!doctype html><title>A form</title>
<form method="post" action="/php/form">
  <label>Name <input name="name"></label>
  <label>Favourite colour <input name="colour"></label>
  <button>Send</button>
</form>
