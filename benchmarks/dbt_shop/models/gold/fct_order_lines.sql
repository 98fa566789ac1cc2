-- shop.gold.fct_order_lines
select
    l.order_line_id,
    l.order_id,
    p.product_key,
    {{ date_key('o.order_date') }} as date_key,
    l.quantity,
    {{ money('l.unit_price') }} as unit_price,
    {{ money('l.discount') }} as discount,
    {{ money('l.quantity * l.unit_price - l.discount') }} as amount,
    {{ is_revenue('o.status') }} as is_revenue
from {{ source('silver', 'order_lines') }} as l
inner join {{ source('silver', 'orders') }} as o on l.order_id = o.order_id
inner join {{ ref('dim_product') }} as p on l.product_id = p.product_id
