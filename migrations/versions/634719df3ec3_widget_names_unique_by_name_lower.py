"""widget names unique by a name_lower column; no widget_count

Revision ID: 634719df3ec3
Revises: 61f9b03a311e
Create Date: 2026-12-06 19:57:54.895266

The unique index on lower(name) becomes a plain unique constraint on a name_lower
column, which Alembic's autogenerate sees on every database (on SQLite it cannot
reflect an expression index), so a model copied from Widget gets a complete
migration. The names already stored are unique regardless of case (the old index
saw to it), so filling name_lower cannot conflict. widget_count goes: the list
counts the table instead.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '634719df3ec3'
down_revision = '61f9b03a311e'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('uq_widget_name_lower', table_name='widget')
    with op.batch_alter_table('widget', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_lower', sa.String(length=100), nullable=True))
    op.execute("UPDATE widget SET name_lower = lower(name)")
    with op.batch_alter_table('widget', schema=None) as batch_op:
        batch_op.alter_column('name_lower', existing_type=sa.String(length=100), nullable=False)
        batch_op.create_unique_constraint(batch_op.f('uq_widget_name_lower'), ['name_lower'])
    op.drop_table('widget_count')


def downgrade():
    op.create_table('widget_count',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_widget_count'))
    )
    op.execute("INSERT INTO widget_count (id, total) SELECT 1, count(*) FROM widget")
    with op.batch_alter_table('widget', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_widget_name_lower'), type_='unique')
        batch_op.drop_column('name_lower')
    op.create_index(
        'uq_widget_name_lower', 'widget', [sa.text('lower(name)')], unique=True
    )
