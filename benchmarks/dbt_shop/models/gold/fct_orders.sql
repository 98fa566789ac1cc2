-- shop.gold.fct_orders, merged like the pipeline's build: on order_id, the rows
-- whose updated_at is at or after the table's latest minus 3 days.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='order_id',
          on_schema_change='fail') }}

with line_totals as (
    select
        order_id,
        count(*) as line_count,
        cast(sum(quantity) as bigint) as items,
        {{ money('sum(quantity * unit_price)') }} as gross_amount,
        {{ money('sum(discount)') }} as discount_amount,
        {{ money('sum(' ~ money('quantity * unit_price - discount') ~ ')') }} as net_amount
    from {{ source('silver', 'order_lines') }}
    group by order_id
),

paid as (
    select order_id, count(*) as payment_count, {{ money('sum(amount)') }} as paid_amount, max(paid_ts) as last_paid_ts
    from {{ source('silver', 'payments') }}
    group by order_id
),

customer_keys as (
    select distinct customer_id, customer_key from {{ ref('dim_customer') }}
),

orders as (
    select
        o.order_id,
        k.customer_key,
        {{ date_key('o.order_date') }} as date_key,
        o.order_ts,
        o.order_date,
        o.status,
        o.currency,
        o.channel,
        coalesce(l.line_count, 0) as line_count,
        coalesce(l.items, 0) as items,
        {{ money('coalesce(l.gross_amount, 0)') }} as gross_amount,
        {{ money('coalesce(l.discount_amount, 0)') }} as discount_amount,
        {{ money('coalesce(l.net_amount, 0)') }} as net_amount,
        coalesce(p.payment_count, 0) as payment_count,
        {{ money('coalesce(p.paid_amount, 0)') }} as paid_amount,
        {{ is_revenue('o.status') }} as is_revenue,
        greatest(o.order_ts, coalesce(p.last_paid_ts, o.order_ts)) as updated_at
    from {{ source('silver', 'orders') }} as o
    left join line_totals as l on o.order_id = l.order_id
    left join paid as p on o.order_id = p.order_id
    left join customer_keys as k on o.customer_id = k.customer_id
)

select * from orders
{% if is_incremental() %}
where updated_at >= (select max(updated_at) - interval 3 day from {{ this }})
{% endif %}
