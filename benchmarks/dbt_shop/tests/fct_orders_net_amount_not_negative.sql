-- shop.yml, build_fct_orders checks: between: {column: net_amount, min: 0}
select order_id, net_amount from {{ ref('fct_orders') }} where net_amount < 0
