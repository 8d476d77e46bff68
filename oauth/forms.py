"""Console forms for identity and credentials."""

from __future__ import annotations

from django import forms


class AccessKeyForm(forms.Form):
    description = forms.CharField(
        max_length=256,
        required=False,
        help_text="What the key is for (a script, a Terraform pipeline…), so you know which one to revoke later.",
    )
