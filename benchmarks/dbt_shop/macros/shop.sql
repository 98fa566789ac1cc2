{# yyyymmdd of a date as an INTEGER: millpond.model.dates.date_key #}
{% macro date_key(day) -%}
    cast(year({{ day }}) * 10000 + month({{ day }}) * 100 + day({{ day }}) as integer)
{%- endmacro %}

{# Money: decimal(18, 2), millpond.model.parse.MONEY #}
{% macro money(expr) -%}
    cast({{ expr }} as decimal(18, 2))
{%- endmacro %}

{# Statuses that earn nothing: shop.domain.NON_REVENUE_STATUSES #}
{% macro is_revenue(status) -%}
    {{ status }} not in ('cancelled')
{%- endmacro %}

{# The exact mean of a decimal(18, 2) column in an aggregate, rounded half away from zero
   to cents (millpond.model.numeric.exact_mean(column, scale=2)): integer cents, integer
   division, never a float. #}
{% macro exact_mean_money(column) -%}
    cast(
        cast(sign(sum({{ column }}))
             * ((2 * abs(cast(sum({{ column }}) * 100 as hugeint)) + count({{ column }}))
                // (2 * count({{ column }}))) as decimal(38, 0)) * 0.01
        as decimal(18, 2))
{%- endmacro %}
