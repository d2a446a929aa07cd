"""normalise stored emails as registration now does (NFC, IDNA domain)

Revision ID: 7d2e5b9c41a3
Revises: ccbf68e141ab
Create Date: 2026-11-29 01:00:00.000000

Emails used to be stored trimmed and lower-cased only; logins and registrations
now normalise them first (email-validator's normalised form, lower-cased), so a
row stored in another spelling (NFD, full-width letters in the domain) could no
longer log in. This rewrites such rows. A row whose normal form another row
already holds is left as it is and named in the output: two accounts that are one
address by the new rule need a person to decide which one stays.
"""
from alembic import op
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email


# revision identifiers, used by Alembic.
revision = '7d2e5b9c41a3'
down_revision = 'ccbf68e141ab'
branch_labels = None
depends_on = None

site_user = sa.table(
    'site_user', sa.column('id', sa.Integer), sa.column('email', sa.String)
)


def _normalised(email):
    try:
        return validate_email(email, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def upgrade():
    connection = op.get_bind()
    rows = connection.execute(sa.select(site_user.c.id, site_user.c.email)).all()
    taken = {email for _, email in rows}
    for user_id, email in rows:
        normal = _normalised(email)
        if normal is None or normal == email:
            continue
        if normal in taken:
            print(f"site_user {user_id}: left as is, {normal!r} is another account's email")
            continue
        connection.execute(
            site_user.update().where(site_user.c.id == user_id).values(email=normal)
        )
        taken.discard(email)
        taken.add(normal)


def downgrade():
    # The spellings replaced are not kept, and the normal form logs in with the
    # code before this revision as well: nothing to undo.
    pass
