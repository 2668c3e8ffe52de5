# /py/items/ab-12: a route parameter from the file name.
def handle(request, response):
    response.json({"sku": request.params["sku"], "in_stock": True})
