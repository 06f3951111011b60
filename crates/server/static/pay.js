// Sends the payer on to the provider's cashier: submits the signed form the page shows (UnionPay's front
// transaction). Without JavaScript the page's "continue" button does the same.
document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
  form.submit();
});
